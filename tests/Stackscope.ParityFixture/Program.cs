using System.Runtime.CompilerServices;
using System.Threading.Channels;

// The target of the parity test (tests/Stackscope.Diagnostics.Tests/ParityTests.cs): a rich set of suspended async chains,
// each rooted at a distinctly named method of Chains (its name ends in "Root"), so the test matches a chain read in process
// with the same chain read from a dump or a live attach by the name of its outermost method.
//
// Usage: Stackscope.ParityFixture <forest.json>. Everything suspends on gates (TaskCompletionSource, a custom signal, a
// channel, a semaphore), never on sleeps. Once suspended, it extracts its own forest in process (StackExtractor.ExtractAll,
// resources on) into <forest.json> and the stack of the task three callers await (StackExtractor.Extract) into
// <forest.json>.shared.json, prints "READY <pid>", waits for a line on stdin, releases every gate and exits 0.
// Lines marked "// @name" are looked up by the test.
namespace Stackscope.ParityFixture;

public static class Program
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);

    public static int Main(string[] args)
    {
        if (args is not [var jsonPath])
        {
            Console.Error.WriteLine("usage: Stackscope.ParityFixture <forest.json>");
            return 2;
        }

        // The runtime records async operations in its active-task registry only while tracking is on, and only those
        // started after: on before anything starts. ExtractAll needs it; WhenAll's children and Task.Run's inner task
        // are found upward through it.
        TaskTracking.Enable();

        var gates = new Gates();
        var releasable = new List<Task>();

        // Resources: a lock scope (a releaser holding the semaphore), await using, using of a CancellationTokenSource.
        var mutex = new SemaphoreSlim(1, 1);
        releasable.Add(Chains.LockScopeRoot(mutex, gates.For("lock-scope")));
        releasable.Add(Chains.AwaitUsingRoot(gates.For("await-using")));
        releasable.Add(Chains.CancellationRoot(gates.For("cts")));
        releasable.Add(Chains.ActivityRoot(gates.For("activity")));
        // Two waiters queued on the semaphore the lock scope holds: the second is waiter #2.
        releasable.Add(Chains.SemaphoreFirstRoot(mutex));
        releasable.Add(Chains.SemaphoreSecondRoot(mutex));

        var channel = Channel.CreateBounded<int>(4);
        releasable.Add(Chains.ChannelRoot(channel.Reader));

        // Never released: the process exits with it pending.
        _ = Chains.DelayRoot();

        // Task.WhenAll of 5 tasks, 2 already completed and 3 pending.
        var parts = new Task[5];
        for (int i = 0; i < parts.Length; i++)
        {
            parts[i] = Chains.WhenAllPartAsync(i < 2 ? Task.CompletedTask : gates.For("when-all-" + i));
        }
        releasable.Add(Chains.WhenAllRoot(parts));
        // The same with results: Task.WhenAll<int> keeps its tasks (a WhenAllPromise<T>), Task.WhenAll(Task[]) does not.
        var results = new Task<int>[5];
        for (int i = 0; i < results.Length; i++)
        {
            results[i] = Chains.WhenAllResultAsync(i < 2 ? Task.CompletedTask : gates.For("when-all-results-" + i), i);
        }
        releasable.Add(Chains.WhenAllResultsRoot(results));

        Task taskRun = Chains.TaskRunRoot(gates.For("task-run"));
        releasable.Add(taskRun);
        releasable.Add(Chains.WaitAsyncRoot(gates.For("wait-async")));
        releasable.Add(Chains.IteratorAwaitRoot(gates.For("iterator-await")));
        releasable.Add(Chains.IteratorYieldRoot(gates.For("iterator-yield")));

        var mapped = new TaskCompletionSource<int>();
        releasable.Add(Chains.GenericRoot(mapped.Task));
        releasable.Add(Chains.HiddenRoot(gates.For("hidden")));

        var signal = new Signal();
        releasable.Add(Chains.CustomAwaiterRoot(signal));

        // Two async methods awaiting each other (a deadlock), never released: each is awaited, so neither is a root; the
        // forest shows the ring from the member whose name sorts first (CycleRoot), its stack ending at the cycle.
        var ring = new TaskCompletionSource();
        Chains.StartRing(ring.Task);
        ring.SetResult();

        // One task awaited by three different async callers.
        Task<int> shared = Chains.SharedWorkAsync(gates.For("shared"));
        releasable.Add(Chains.FirstCallerRoot(shared));
        releasable.Add(Chains.SecondCallerRoot(shared));
        releasable.Add(Chains.ThirdCallerRoot(shared));
        // The shared task's own stack (frames, leaf, the callers awaiting it) has no root of its own in a forest: out of process
        // it shows on a thread blocked on it, after the thread's blocking-wait frame.
        var sharedWaiter = new Thread(() => shared.Wait()) { Name = "shared-waiter", IsBackground = true }; // @shared-waiter
        sharedWaiter.Start();

        // Everything above suspended synchronously, except Task.Run's lambda, which runs on the thread pool: wait (bounded)
        // until its chain reaches the gate and the Task.Run proxy is linked to the lambda's task.
        // Task.Wait spins before it blocks: wait (bounded) until its blocking wait is registered on the task.
        if (!SpinUntil(() => HasBlockingWaiter(shared)))
        {
            Console.Error.WriteLine("the shared-waiter thread did not block within " + Bound);
            return 3;
        }
        if (!SpinUntil(() => StackExtractor.Extract(taskRun) is { Leaf.Kind: LeafKind.TaskCompletionSource } s &&
                             s.Frames.Any(f => f.MethodName == nameof(Chains.RunBodyAsync))))
        {
            Console.Error.WriteLine("Task.Run's chain did not suspend within " + Bound);
            return 3;
        }

        StackForest forest = StackExtractor.ExtractAll(ExtractOptions.Default with { IncludeResources = true, IncludeAwaitedBy = true });
        File.WriteAllText(jsonPath, forest.ToString(StackFormat.Json));
        File.WriteAllText(jsonPath + ".shared.json", StackExtractor.Extract(shared).ToString(StackFormat.Json));

        Console.WriteLine("READY " + Environment.ProcessId);
        Console.ReadLine();

        gates.ReleaseAll();
        channel.Writer.TryWrite(7);
        mapped.SetResult(3);
        signal.Fire();
        if (!Task.WaitAll([.. releasable], Bound))
        {
            Console.Error.WriteLine("the chains did not finish within " + Bound);
            return 4;
        }
        return 0;
    }

    private static bool HasBlockingWaiter(Task task)
    {
        object? continuation = typeof(Task).GetField("m_continuationObject", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!.GetValue(task);
        return continuation?.GetType().Name == "SetOnInvokeMres" ||
               continuation is List<object?> list && list.Any(c => c?.GetType().Name == "SetOnInvokeMres");
    }

    private static bool SpinUntil(Func<bool> condition)
    {
        long deadline = Environment.TickCount64 + (long)Bound.TotalMilliseconds;
        while (!condition())
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }
            Thread.Sleep(1); // polling the pool thread's progress, not a suspension of any chain
        }
        return true;
    }
}

/// <summary>One TaskCompletionSource per chain, so no two chains share the task they wait on.</summary>
public sealed class Gates
{
    private readonly Dictionary<string, TaskCompletionSource> _gates = new();

    public Task For(string name)
    {
        var gate = new TaskCompletionSource();
        _gates.Add(name, gate);
        return gate.Task;
    }

    public void ReleaseAll()
    {
        foreach (TaskCompletionSource gate in _gates.Values)
        {
            gate.SetResult();
        }
    }
}

/// <summary>A lock scope: <c>using (await mutex.LockAsync())</c> holds the semaphore until disposed.</summary>
public sealed class Releaser : IDisposable
{
    private readonly SemaphoreSlim _semaphore;

    internal Releaser(SemaphoreSlim semaphore) => _semaphore = semaphore;

    public void Dispose() => _semaphore.Release();
}

public static class MutexExtensions
{
    public static async Task<Releaser> LockAsync(this SemaphoreSlim semaphore)
    {
        await semaphore.WaitAsync();
        return new Releaser(semaphore);
    }
}

/// <summary>An <c>await using</c> resource.</summary>
public sealed class Session(string name) : IAsyncDisposable
{
    public string Name { get; } = name;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

/// <summary>A generic class with a generic async method: called as <c>Repo&lt;string&gt;.Map&lt;int&gt;</c>.</summary>
public sealed class Repo<T>
{
    public async Task<TOut> Map<TOut>(Task<TOut> source)
    {
        TOut value = await source; // @repo-map
        return value;
    }
}

/// <summary>A custom awaitable: its awaiter is neither a task's nor a ValueTask's.</summary>
public sealed class Signal
{
    private Action? _continuation;
    private bool _fired;

    public bool Fired => Volatile.Read(ref _fired);

    public SignalAwaiter GetAwaiter() => new(this);

    internal void Register(Action continuation) => _continuation = continuation;

    public void Fire()
    {
        Volatile.Write(ref _fired, true);
        Interlocked.Exchange(ref _continuation, null)?.Invoke();
    }
}

public readonly struct SignalAwaiter(Signal signal) : INotifyCompletion
{
    public bool IsCompleted => signal.Fired;

    public void OnCompleted(Action continuation) => signal.Register(continuation);

    public void GetResult()
    {
    }
}

public static class Chains
{
    public static async Task LockScopeRoot(SemaphoreSlim mutex, Task gate)
    {
        using (await mutex.LockAsync()) // @lock-scope
        {
            await gate; // @lock-held
        }
    }

    public static async Task AwaitUsingRoot(Task gate)
    {
        await using var session = new Session("orders"); // @await-using
        await gate; // @await-using-body
    }

    public static async Task CancellationRoot(Task gate)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromHours(1)); // @cts
        await gate; // @cts-body
    }

    public static async Task ActivityRoot(Task gate)
    {
        using var activity = new System.Diagnostics.Activity("checkout").SetIdFormat(System.Diagnostics.ActivityIdFormat.W3C).Start(); // @activity
        await gate; // @activity-body
    }

    public static async Task SemaphoreFirstRoot(SemaphoreSlim mutex)
    {
        await mutex.WaitAsync(); // @semaphore-first
        mutex.Release();
    }

    public static async Task SemaphoreSecondRoot(SemaphoreSlim mutex)
    {
        await mutex.WaitAsync(); // @semaphore-second
        mutex.Release();
    }

    public static async Task<int> ChannelRoot(ChannelReader<int> reader)
    {
        int item = await reader.ReadAsync(); // @channel
        return item;
    }

    public static async Task DelayRoot()
    {
        await Task.Delay(TimeSpan.FromHours(1)); // @delay
    }

    public static async Task WhenAllRoot(Task[] parts)
    {
        await Task.WhenAll(parts); // @when-all
    }

    public static async Task WhenAllPartAsync(Task gate)
    {
        await gate; // @when-all-part
    }

    public static async Task<int> WhenAllResultsRoot(Task<int>[] parts)
    {
        int[] values = await Task.WhenAll(parts); // @when-all-results
        return values.Sum();
    }

    public static async Task<int> WhenAllResultAsync(Task gate, int value)
    {
        await gate; // @when-all-result
        return value;
    }

    public static async Task TaskRunRoot(Task gate)
    {
        await Task.Run(async () => await RunBodyAsync(gate)); // @task-run
    }

    public static async Task RunBodyAsync(Task gate)
    {
        await gate; // @run-body
    }

    public static async Task WaitAsyncRoot(Task gate)
    {
        await WaitedAsync(gate).WaitAsync(TimeSpan.FromHours(1)); // @wait-async
    }

    public static async Task WaitedAsync(Task gate)
    {
        await gate; // @waited
    }

    public static async Task<int> IteratorAwaitRoot(Task gate)
    {
        int sum = 0;
        await foreach (int n in TicksAsync(gate)) // @iterator-await-foreach
        {
            sum += n;
        }
        return sum;
    }

    public static async IAsyncEnumerable<int> TicksAsync(Task gate)
    {
        await gate; // @ticks-await
        yield return 1;
    }

    public static async Task<int> IteratorYieldRoot(Task gate)
    {
        int sum = 0;
        await foreach (int n in ItemsAsync()) // @iterator-yield-foreach
        {
            await gate; // @iterator-yield-body
            sum += n;
        }
        return sum;
    }

    public static async IAsyncEnumerable<int> ItemsAsync()
    {
        yield return 1; // @items-yield
        await Task.Yield();
        yield return 2;
    }

    public static async Task<int> GenericRoot(Task<int> source)
    {
        int value = await new Repo<string>().Map(source); // @generic
        return value;
    }

    /// <summary>A [StackscopeHidden] method between two visible ones: left out of the stack on both sides.</summary>
    public static async Task HiddenRoot(Task gate)
    {
        await HiddenMiddleAsync(gate); // @hidden-root
    }

    [StackscopeHidden]
    private static async Task HiddenMiddleAsync(Task gate) => await VisibleInnerAsync(gate);

    private static async Task VisibleInnerAsync(Task gate)
    {
        await gate; // @hidden-inner
    }

    public static async Task CustomAwaiterRoot(Signal signal)
    {
        await signal; // @custom-awaiter
    }

    /// <summary>Starts <see cref="CycleRoot"/> and <see cref="CycleTailAsync"/>, each of which, once <paramref name="gate"/> completes, awaits the other.</summary>
    public static void StartRing(Task gate)
    {
        var ring = new Task[2];
        ring[0] = CycleRoot(gate, ring);
        ring[1] = CycleTailAsync(gate, ring);
    }

    public static async Task CycleRoot(Task gate, Task[] ring)
    {
        await gate;
        await ring[1]; // @cycle-root
    }

    public static async Task CycleTailAsync(Task gate, Task[] ring)
    {
        await gate;
        await ring[0]; // @cycle-tail
    }

    public static async Task<int> SharedWorkAsync(Task gate)
    {
        await gate; // @shared
        return 42;
    }

    public static async Task<int> FirstCallerRoot(Task<int> shared)
    {
        return await shared; // @caller-first
    }

    public static async Task<int> SecondCallerRoot(Task<int> shared)
    {
        return await shared; // @caller-second
    }

    public static async Task<int> ThirdCallerRoot(Task<int> shared)
    {
        return await shared; // @caller-third
    }
}
