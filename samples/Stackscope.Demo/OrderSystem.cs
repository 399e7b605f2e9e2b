using System.Threading.Channels;

namespace Stackscope.Demo;

public sealed record Order(int Id, string Sku, int Quantity, decimal Amount);

public sealed record Receipt(int OrderId, string PaymentId);

/// <summary>Stands in for a payment provider that answers by callback: each charge waits for its answer.</summary>
public sealed class PaymentProvider
{
    private readonly TaskCompletionSource<string> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task<string> AuthorizeAsync(decimal amount)
    {
        string paymentId = await _answer.Task.ConfigureAwait(false);
        return paymentId;
    }

    public void Answer(string paymentId) => _answer.TrySetResult(paymentId);
}

/// <summary>A warehouse whose stock is guarded by a lock; a stock audit holds it while it waits for an auditor.</summary>
public sealed class Warehouse
{
    private readonly SemaphoreSlim _stockLock = new(1, 1);
    private readonly TaskCompletionSource _auditorSignOff = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public async Task ReserveAsync(string sku, int quantity)
    {
        using (await StockLock.EnterAsync(_stockLock))
        {
            await Task.Yield();
        }
    }

    public async Task AuditAsync(string auditor)
    {
        using var scope = await StockLock.EnterAsync(_stockLock);
        using var deadline = new CancellationTokenSource(TimeSpan.FromMinutes(30));
        await _auditorSignOff.Task.WaitAsync(deadline.Token);
    }

    public void SignOff() => _auditorSignOff.TrySetResult();

    /// <summary>Holding the stock lock: disposing the scope releases it.</summary>
    private sealed class StockLock(SemaphoreSlim semaphore) : IDisposable
    {
        public static async Task<StockLock> EnterAsync(SemaphoreSlim semaphore)
        {
            await semaphore.WaitAsync();
            return new StockLock(semaphore);
        }

        public void Dispose() => semaphore.Release();
    }
}

/// <summary>Prices come from a slow catalog; concurrent lookups of one SKU share a single request.</summary>
public sealed class PriceCatalog
{
    private readonly TaskCompletionSource<decimal> _catalogReply = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task<decimal>? _inFlight;

    public Task<decimal> GetPriceAsync(string sku) => _inFlight ??= FetchAsync(sku);

    private async Task<decimal> FetchAsync(string sku)
    {
        decimal price = await _catalogReply.Task;
        return price;
    }

    public void Reply(decimal price) => _catalogReply.TrySetResult(price);
}

public sealed class OrderService(Warehouse warehouse, PaymentProvider payments, PriceCatalog catalog)
{
    public async Task<Receipt> PlaceOrderAsync(Order order)
    {
        await warehouse.ReserveAsync(order.Sku, order.Quantity);
        string paymentId = await ChargeAsync(order);
        return new Receipt(order.Id, paymentId);
    }

    public async Task<Receipt> PlacePaidOrderAsync(Order order)
    {
        string paymentId = await ChargeAsync(order);
        return new Receipt(order.Id, paymentId);
    }

    private async Task<string> ChargeAsync(Order order)
    {
        decimal total = order.Amount * order.Quantity;
        return await payments.AuthorizeAsync(total);
    }

    public async Task<decimal> QuoteAsync(string sku, int quantity)
    {
        decimal unit = await catalog.GetPriceAsync(sku);
        return unit * quantity;
    }
}

/// <summary>Shipping updates arrive on a channel and are streamed to whoever tracks a parcel.</summary>
public sealed class Tracking
{
    private readonly Channel<string> _events = Channel.CreateUnbounded<string>();

    public async IAsyncEnumerable<string> FollowAsync(int orderId)
    {
        yield return $"order {orderId}: label printed";
        await foreach (string update in _events.Reader.ReadAllAsync())
        {
            yield return $"order {orderId}: {update}";
        }
    }

    public async Task<int> CountUpdatesAsync(int orderId)
    {
        int count = 0;
        await foreach (string _ in FollowAsync(orderId))
        {
            count++;
        }
        return count;
    }

    public void Publish(string update) => _events.Writer.TryWrite(update);

    public void Close() => _events.Writer.TryComplete();
}
