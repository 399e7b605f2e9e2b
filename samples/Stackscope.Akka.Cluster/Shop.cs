using System.Runtime.CompilerServices;
using Akka.Actor;

namespace AkkaShop;

// The sample's actors: a shop's order pipeline across three nodes and its books across two, each suspended where a real
// one gets stuck. Every handler is async (ReceiveAsync): while it awaits, its actor takes no other message, so a message
// sent to it meanwhile waits in its mailbox. Messages cross the nodes as JSON (Akka's default serializer for user messages).

public sealed record PlaceOrder(int Order, string Sku, int Quantity);

public sealed record Reserve(int Order, string Sku, int Quantity);

public sealed record Charge(int Order, decimal Amount);

public sealed record Settle(int Batch);

public sealed record Approve(int Batch, decimal Total);

public sealed record GetBalance(string Account);

/// <summary>
/// The shop's actors' common part: <see cref="Suspended{T}"/> prints the readiness signal the sample's parent waits for
/// ("suspended &lt;path&gt; &lt;Class.Method&gt; &lt;line&gt;") as a handler reaches an await that cannot complete yet;
/// it stands on the await's own line, so the line it prints is the one the dump must show.
/// </summary>
public abstract class ShopActor : ReceiveActor
{
    protected Task<T> Suspended<T>(Task<T> awaited, [CallerMemberName] string method = "", [CallerLineNumber] int line = 0)
    {
        if (!awaited.IsCompleted)
        {
            Console.Out.WriteLine($"suspended {Self.Path.ToStringWithoutAddress()} {GetType().Name}.{method} {line}");
        }
        return awaited;
    }

    /// <summary>The actor at <paramref name="path"/> (a full path on any node), by the provider, without a message (see Program.cs).</summary>
    protected static IActorRef Resolve(string path) => ((ExtendedActorSystem)Context.System).Provider.ResolveActorRef(path);
}

/// <summary>Node "front", /user/orders: placing an order reserves its stock.</summary>
public sealed class Orders : ShopActor
{
    private readonly IActorRef _stock;

    public Orders(string stock)
    {
        _stock = Resolve(stock);
        ReceiveAsync<PlaceOrder>(PlaceAsync);
    }

    private async Task PlaceAsync(PlaceOrder order)
    {
        string reservation = await Suspended(_stock.Ask<string>(new Reserve(order.Order, order.Sku, order.Quantity)));
        Sender.Tell($"order {order.Order} placed: {reservation}");
    }
}

/// <summary>Node "stock", /user/stock: a reservation holds the goods once the payment is charged.</summary>
public sealed class Stock : ShopActor
{
    private readonly IActorRef _payments;
    private int _available = 40;

    public Stock(string payments)
    {
        _payments = Resolve(payments);
        ReceiveAsync<Reserve>(ReserveAsync);
    }

    private async Task ReserveAsync(Reserve reserve)
    {
        _available -= reserve.Quantity;
        string receipt = await Suspended(_payments.Ask<string>(new Charge(reserve.Order, reserve.Quantity * 19.90m)));
        Sender.Tell($"{reserve.Quantity} x {reserve.Sku} reserved, {_available} left, {receipt}");
    }
}

/// <summary>Node "payments", /user/payments: a charge waits for the payment provider's authorization.</summary>
public sealed class Payments : ShopActor
{
    public Payments() => ReceiveAsync<Charge>(ChargeAsync);

    private async Task ChargeAsync(Charge charge)
    {
        string authorization = await Suspended(PaymentProvider.AuthorizeAsync(charge.Order, charge.Amount));
        Sender.Tell($"charged {charge.Amount} ({authorization})");
    }
}

public static class PaymentProvider
{
    /// <summary>The provider's answer: never given in the sample.</summary>
    private static readonly TaskCompletionSource<string> s_authorization = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static async Task<string> AuthorizeAsync(int order, decimal amount) => await s_authorization.Task;
}

/// <summary>
/// Node "payments", /user/ledger: settling a batch asks the audit to approve it. The audit checks the balance back with the
/// ledger, and that question waits in the ledger's mailbox behind the settlement, which waits for the audit: a deadlock
/// across two nodes (the Asks have no timeout).
/// </summary>
public sealed class Ledger : ShopActor
{
    private readonly IActorRef _audit;
    private decimal _balance = 12_500m;

    public Ledger(string audit)
    {
        _audit = Resolve(audit);
        ReceiveAsync<Settle>(SettleAsync);
        Receive<GetBalance>(_ => Sender.Tell(_balance));
    }

    private async Task SettleAsync(Settle settle)
    {
        string approval = await Suspended(_audit.Ask<string>(new Approve(settle.Batch, 830.50m)));
        _balance -= 830.50m;
        Sender.Tell($"batch {settle.Batch} settled: {approval}");
    }
}

/// <summary>Node "front", /user/audit: approving a batch checks the ledger's balance first.</summary>
public sealed class Audit : ShopActor
{
    private readonly IActorRef _ledger;

    public Audit(string ledger)
    {
        _ledger = Resolve(ledger);
        ReceiveAsync<Approve>(ApproveAsync);
    }

    private async Task ApproveAsync(Approve approve)
    {
        decimal balance = await Suspended(_ledger.Ask<decimal>(new GetBalance("settlements")));
        Sender.Tell(balance >= approve.Total ? "approved" : "rejected");
    }
}
