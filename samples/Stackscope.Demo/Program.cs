using Stackscope;
using Stackscope.Demo;

// An order system with a few operations in flight, each suspended somewhere interesting.
// Stackscope shows where, without throwing, without a debugger, and without disturbing them.
bool json = args.Contains("--json");
TaskTracking.Enable(); // lets the current-thread stack below cross from a resumed method into its callers

var warehouse = new Warehouse();
var payments = new PaymentProvider();
var catalog = new PriceCatalog();
var tracking = new Tracking();
var orders = new OrderService(warehouse, payments, catalog);

Task audit = warehouse.AuditAsync("j.doe");                            // an audit holds the stock lock
Task<Receipt> blocked = orders.PlaceOrderAsync(new Order(1001, "KB-42", 2, 49.90m));
Task<Receipt> paying = orders.PlacePaidOrderAsync(new Order(1002, "MS-7", 1, 19.00m));
Task<decimal> quoteA = orders.QuoteAsync("MON-27", 1);
Task<decimal> quoteB = orders.QuoteAsync("MON-27", 3);
Task<int> updates = tracking.CountUpdatesAsync(1003);

Show("Order 1001 waits for the stock lock the audit holds", StackExtractor.Extract(blocked));
Show("The audit holding the lock (resources held by each frame)", StackExtractor.Extract(audit));
Show("Order 1002 waits for the payment provider", StackExtractor.Extract(paying));
Show("Two quotes share one catalog request (awaited by two callers)", StackExtractor.Extract(catalog.GetPriceAsync("MON-27")));
Show("A parcel tracker waits for the next shipping event", StackExtractor.Extract(updates));
Show("The same payment wait, as an exception-style trace", StackExtractor.Extract(paying), StackFormat.Flat);

// From inside a resumed async method: the thread's frames, then the logical callers awaiting it.
var checkpoint = new TaskCompletionSource();
Task<LogicalStack> inside = Probe.AwaitedProbeAsync(checkpoint.Task);
checkpoint.SetResult();
Show("StackExtractor.ExtractCurrent() inside a resumed async method", await inside);

// Every pending operation in the process at once, identical stacks grouped (needs TaskTracking).
Task<decimal>[] morequotes = Enumerable.Range(0, 3).Select(_ => orders.QuoteAsync("MON-27", 2)).ToArray();
Console.WriteLine("## Everything pending, grouped (StackExtractor.ExtractAll())");
Console.WriteLine(json ? StackExtractor.ExtractAll().ToString(StackFormat.Json) : StackExtractor.ExtractAll().ToString());

// Let everything finish: nothing was changed by looking.
warehouse.SignOff();
payments.Answer("pay-7781");
catalog.Reply(249.00m);
tracking.Publish("picked up");
tracking.Close();
Receipt[] receipts = await Task.WhenAll(blocked, paying);
await audit;
await Task.WhenAll(morequotes);
Console.WriteLine($"All done: receipts {string.Join(", ", receipts.Select(r => r.OrderId))}, quotes {await quoteA} and {await quoteB}, {await updates} tracking updates.");

void Show(string title, LogicalStack stack, StackFormat format = StackFormat.Tree)
{
    Console.WriteLine($"## {title}");
    Console.WriteLine(stack.ToString(json ? StackFormat.Json : format));
}

static class Probe
{
    public static async Task<LogicalStack> AwaitedProbeAsync(Task checkpoint) => await ProbeAsync(checkpoint);

    private static async Task<LogicalStack> ProbeAsync(Task checkpoint)
    {
        await checkpoint;
        return StackExtractor.ExtractCurrent();
    }
}
