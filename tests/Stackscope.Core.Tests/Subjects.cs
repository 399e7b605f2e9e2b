using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using Stackscope.Tests.Shared;

// Test subjects: real async code suspended at known awaits by TaskCompletionSource gates. Lines
// marked "// @name" are looked up by the tests; keep one statement per marked line.
namespace Stackscope.Tests.Subjects;

public static class Where
{
    public static int Line(string marker) => SourceLines.Find(SourceLines.ThisFile(), marker);
}

public sealed record Order(int Id, decimal Amount);

public sealed class PaymentGateway(Task<bool> approval)
{
    public async Task<bool> ChargeAsync(decimal amount)
    {
        bool approved = await approval; // @charge
        return approved && amount > 0;
    }
}

public sealed class OrderService(PaymentGateway gateway)
{
    public async Task<int> PlaceAsync(Order order)
    {
        await Task.CompletedTask;
        bool charged = await gateway.ChargeAsync(order.Amount); // @place
        return charged ? order.Id : -1;
    }

    public async Task<int> PlaceWithoutContextAsync(Order order)
    {
        bool charged = await gateway.ChargeAsync(order.Amount).ConfigureAwait(false); // @place-noctx
        return charged ? order.Id : -1;
    }
}

public static class Chains
{
    public static async Task Outer(Task gate)
    {
        await Middle(gate); // @outer
    }

    public static async Task Middle(Task gate)
    {
        await Inner(gate); // @middle
    }

    public static async Task Inner(Task gate)
    {
        await gate; // @inner
    }

    public static async Task Deep(int depth, Task gate)
    {
        if (depth <= 1)
        {
            await gate;
            return;
        }
        await Deep(depth - 1, gate); // @deep
    }

    public static async Task AwaitBoth(Task shared)
    {
        await shared; // @awaiter
    }

    public static async Task<T> Generic<T>(T value, Task gate)
    {
        await gate; // @generic
        return value;
    }

    public static Task WithLambda(Task gate)
    {
        Func<int, Task> lambda = async x =>
        {
            await gate; // @lambda
        };
        return lambda(1);
    }

    public static Task WithLocalFunction(Task gate)
    {
        return Local(7);

        async Task Local(int count)
        {
            await gate; // @local
        }
    }

    public static async Task Throws(Task gate)
    {
        await gate;
        throw new InvalidOperationException("boom");
    }

    public static async Task Cancels(Task gate, CancellationToken token)
    {
        await gate;
        token.ThrowIfCancellationRequested();
    }

    public static async Task AwaitTaskOfTask(Task<Task> next)
    {
        Task inner = await next;
        await inner; // @cycle
    }

    public static async Task Delays() => await Task.Delay(Timeout.Infinite, CancellationToken.None); // @delay

    public static async Task WaitsOnSemaphore(SemaphoreSlim semaphore) => await semaphore.WaitAsync(); // @semaphore

    public static async Task Yields()
    {
        await Task.Yield(); // @yield
    }

    public static async Task AwaitsContinuation(Task gate)
    {
        await gate.ContinueWith(static _ => 42); // @continuewith
    }

    public static async Task AwaitsAll(Task first, Task second)
    {
        await Task.WhenAll(first, second); // @whenall
    }

    public static async Task AwaitsCustom(GateAwaitable awaitable)
    {
        await awaitable; // @custom
    }
}

/// <summary>Two async methods that, once a gate opens, await each other: a deadlock.</summary>
public static class Ring
{
    public static (Task First, Task Second) Start(Task gate)
    {
        var ring = new Task[2];
        ring[1] = Second(gate, ring);
        ring[0] = First(gate, ring);
        return (ring[0], ring[1]);
    }

    public static async Task First(Task gate, Task[] ring)
    {
        await gate;
        await ring[1]; // @ring-first
    }

    public static async Task Second(Task gate, Task[] ring)
    {
        await gate;
        await ring[0]; // @ring-second
    }

    /// <summary>A ring of one: once the gate opens, the method awaits its own task.</summary>
    public static Task StartAlone(Task gate)
    {
        var self = new Task[1];
        self[0] = Alone(gate, self);
        return self[0];
    }

    public static async Task Alone(Task gate, Task[] self)
    {
        await gate;
        await self[0]; // @ring-alone
    }
}

public static class ValueTasks
{
    public static async ValueTask<int> ReadAsync(ManualSource source)
    {
        int value = await source.Task; // @vts
        return value;
    }

    public static async Task<int> ConsumeAsync(ManualSource source)
    {
        int value = await ReadAsync(source); // @vts-consumer
        return value;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public static async ValueTask<int> PooledAsync(ManualSource source)
    {
        int value = await source.Task.ConfigureAwait(false); // @pooled
        return value;
    }

    public static async Task<int> ConsumePooledAsync(ManualSource source)
    {
        int value = await PooledAsync(source); // @pooled-consumer
        return value;
    }
}

public static class Iterators
{
    public static async IAsyncEnumerable<int> Numbers(Task gate)
    {
        yield return 1; // @ayield
        await gate; // @aawait
        yield return 2;
    }

    public static async Task<int> SumAsync(Task gate)
    {
        int sum = 0;
        await foreach (int n in Numbers(gate)) // @aconsumer
        {
            sum += n;
        }
        return sum;
    }

    public static IEnumerable<int> Inner()
    {
        yield return 10; // @syield-inner
        yield return 20;
    }

    public static IEnumerable<int> Outer()
    {
        yield return 1;
        foreach (int x in Inner())
        {
            yield return x; // @syield-outer
        }
    }
}

/// <summary>A custom awaitable Stackscope knows nothing about: it must still be described, not dropped.</summary>
public sealed class GateAwaitable
{
    private Action? _continuation;
    public Awaiter GetAwaiter() => new(this);
    public void Release() => Interlocked.Exchange(ref _continuation, null)?.Invoke();

    public readonly struct Awaiter(GateAwaitable owner) : INotifyCompletion
    {
        public bool IsCompleted => false;
        public void OnCompleted(Action continuation) => owner._continuation = continuation;
        public void GetResult() { }
    }
}

/// <summary>Holds posted callbacks until released, so a method awaiting Task.Yield() stays suspended.</summary>
public sealed class HoldingContext : SynchronizationContext
{
    private readonly List<(SendOrPostCallback, object?)> _posted = new();

    /// <summary>Calls <paramref name="start"/> with this context current, so its awaits capture it.</summary>
    public Task Start(Func<Task> start)
    {
        SynchronizationContext? previous = Current;
        SetSynchronizationContext(this);
        try
        {
            return start();
        }
        finally
        {
            SetSynchronizationContext(previous);
        }
    }

    public override void Post(SendOrPostCallback d, object? state)
    {
        lock (_posted) _posted.Add((d, state));
    }
    public void RunAll()
    {
        List<(SendOrPostCallback, object?)> items;
        lock (_posted) { items = [.. _posted]; _posted.Clear(); }
        foreach (var (d, s) in items) d(s);
    }
}

public static class Current
{
    public static async Task<LogicalStack> BeforeFirstAwait()
    {
        LogicalStack stack = StackExtractor.ExtractCurrent(); // @current-sync
        await Task.CompletedTask;
        return stack;
    }

    public static async Task<LogicalStack> CallerOfSync() => await BeforeFirstAwait(); // @current-sync-caller

    public static async Task<LogicalStack> AfterResume(Task gate)
    {
        await gate;
        return Helper(); // @current-resumed
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static LogicalStack Helper() => StackExtractor.ExtractCurrent(); // @current-helper

    public static async Task<LogicalStack> AwaitsResumed(Task gate)
    {
        LogicalStack stack = await AfterResume(gate); // @current-awaiter
        return stack;
    }

    public static async Task<LogicalStack> Since(Task gate)
    {
        await gate;
        return SinceHelper(); // @since-call
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static LogicalStack SinceHelper() => StackExtractor.ExtractSince(typeof(Current).GetMethod(nameof(Since))!);

    public static async Task<LogicalStack> Until(Task gate)
    {
        await gate;
        return UntilHelper();
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static LogicalStack UntilHelper() => StackExtractor.ExtractUntil(typeof(Current).GetMethod(nameof(Until))!);

    public static async Task<LogicalStack> AwaitsUntil(Task gate)
    {
        LogicalStack s = await Until(gate); // @until-awaiter
        return s;
    }
}

public static class Switches
{
    /// <summary>Awaits in the arms of a switch expression: each await has its own line, not the switch's.</summary>
    public static async Task<int> AwaitInArm(int which, Task<int> first, Task<int> second)
    {
        return which switch
        {
            0 => await first, // @switch-arm-first
            _ => await second, // @switch-arm-second
        };
    }
}

public interface IStore
{
    Task<int> GetAsync(int id);
}

public interface IRepository<T>
{
    Task<T> FindAsync(T key);
}

/// <summary>Explicit interface implementations: named after the interface as written, without its namespace.</summary>
public sealed class Store(Task gate) : IStore, IRepository<string>
{
    async Task<int> IStore.GetAsync(int id)
    {
        await gate; // @explicit-impl
        return id;
    }

    async Task<string> IRepository<string>.FindAsync(string key)
    {
        Func<Task> lookup = async () => await gate; // @explicit-impl-lambda
        await lookup(); // @explicit-impl-generic
        return key;
    }
}

/// <summary>Identifiers outside ASCII: the Ascii format must escape them.</summary>
public static class Café
{
    public static async Task 等待Async(Task gate)
    {
        await gate; // @non-ascii
    }
}
