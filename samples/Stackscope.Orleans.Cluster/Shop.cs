namespace OrleansShop;

// The sample's grains: a shop's order pipeline and its customers' wallets, each suspended where a real one gets stuck.
// Every grain is non-reentrant (Orleans' default): while a request runs, the activation's other requests wait in its queue.

public interface IOrderGrain : IGrainWithStringKey
{
    Task<string> Status();

    Task Place(string sku, int quantity);
}

/// <summary>An order: placing it reserves the stock.</summary>
public sealed class OrderGrain : Grain, IOrderGrain
{
    private string _status = "new";

    public Task<string> Status() => Task.FromResult(_status);

    public async Task Place(string sku, int quantity)
    {
        _status = "reserving";
        await GrainFactory.GetGrain<IInventoryGrain>(sku).Reserve(this.GetPrimaryKeyString(), quantity);
        _status = "placed";
    }
}

public interface IInventoryGrain : IGrainWithStringKey
{
    Task<int> Available();

    Task Reserve(string order, int quantity);
}

/// <summary>One article's stock: a reservation is handed to the warehouse that ships it.</summary>
public sealed class InventoryGrain : Grain, IInventoryGrain
{
    private int _available = 40;

    public Task<int> Available() => Task.FromResult(_available);

    public async Task Reserve(string order, int quantity)
    {
        _available -= quantity;
        await GrainFactory.GetGrain<IWarehouseGrain>("rotterdam").Ship(order, this.GetPrimaryKeyString(), quantity);
    }
}

public interface IWarehouseGrain : IGrainWithStringKey
{
    Task<int> Backlog();

    Task Ship(string order, string sku, int quantity);
}

/// <summary>A warehouse: a shipment is done when the carrier confirms the pickup.</summary>
public sealed class WarehouseGrain : Grain, IWarehouseGrain
{
    private int _backlog;

    public Task<int> Backlog() => Task.FromResult(_backlog);

    public async Task Ship(string order, string sku, int quantity)
    {
        _backlog++;
        await Carrier.ConfirmPickupAsync(order); // never confirmed in the sample
        _backlog--;
    }
}

public static class Carrier
{
    private static readonly TaskCompletionSource s_never = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task ConfirmPickupAsync(string order) => await s_never.Task.WaitAsync(TimeSpan.FromMinutes(30));
}

public interface IAccountGrain : IGrainWithStringKey
{
    Task<decimal> Balance();

    Task Transfer(string to, decimal amount);

    Task Deposit(string from, decimal amount);

    Task<bool> ConfirmDebit(decimal amount);
}

/// <summary>A customer's wallet. A transfer waits for the payee's deposit, and the deposit checks back with the payer.</summary>
public sealed class AccountGrain : Grain, IAccountGrain
{
    private decimal _balance = 500m;

    public Task<decimal> Balance() => Task.FromResult(_balance);

    public async Task Transfer(string to, decimal amount)
    {
        _balance -= amount;
        await GrainFactory.GetGrain<IAccountGrain>(to).Deposit(this.GetPrimaryKeyString(), amount);
    }

    public async Task Deposit(string from, decimal amount)
    {
        // The payer is still inside Transfer, awaiting this very deposit: its ConfirmDebit waits in the payer's queue
        // behind that Transfer, which waits for this request. A deadlock until Orleans' ResponseTimeout ends it.
        if (await GrainFactory.GetGrain<IAccountGrain>(from).ConfirmDebit(amount))
        {
            _balance += amount;
        }
    }

    public Task<bool> ConfirmDebit(decimal amount) => Task.FromResult(true);
}
