using Hangfire;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;

namespace Stackscope.Hangfire.Cluster;

/// <summary>The sample's jobs: a shop's background work, each suspended where a real one gets stuck.</summary>
public static class Shop
{
    /// <summary>Reserves the stock: holds the storage's distributed lock "stock" while it waits for the warehouse.</summary>
    public static async Task ReserveStock(int order)
    {
        using var connection = JobStorage.Current.GetConnection();
        using IDisposable stock = connection.AcquireDistributedLock("shop:stock", TimeSpan.FromSeconds(30));
        await Warehouse.ConfirmAsync(order); // never confirmed in the sample
    }

    /// <summary>Counts the stock: needs the same lock, which the other server's job holds (a synchronous job, blocked).</summary>
    public static void CountStock() // runs on the other server
    {
        using var connection = JobStorage.Current.GetConnection();
        using IDisposable stock = connection.AcquireDistributedLock("shop:stock", TimeSpan.FromMinutes(30));
    }

    /// <summary>Sends the invoice: awaits the payment provider, which never answers.</summary>
    public static async Task SendInvoice(int order) => await Payments.AuthorizeAsync(order);

    internal static JobStorage Storage(string connection)
    {
        var options = new PostgreSqlStorageOptions { PrepareSchemaIfNecessary = true, QueuePollInterval = TimeSpan.FromMilliseconds(200), DistributedLockTimeout = TimeSpan.FromMinutes(30) };
        return new PostgreSqlStorage(new NpgsqlConnectionFactory(connection, options), options);
    }
}

public static class Warehouse
{
    private static readonly TaskCompletionSource s_never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task ConfirmAsync(int order) => await s_never.Task.WaitAsync(TimeSpan.FromMinutes(30));
}

public static class Payments
{
    private static readonly TaskCompletionSource<bool> s_never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<bool> AuthorizeAsync(int order) => await s_never.Task;
}
