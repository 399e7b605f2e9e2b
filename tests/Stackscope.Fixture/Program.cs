using System.Threading.Tasks.Sources;
using Stackscope.Tests.Shared;

// A process with known threads and async chains, for tests that attach to it, dump it, or run the
// dotnet-stackscope tool on it. Lines marked "// @name" are looked up by the tests. It prints
// "READY <pid>" once everything is suspended, then waits for a line on stdin and exits.
namespace Stackscope.Fixture;

public static class Program
{
    public static void Main(string[] args)
    {
        if (args is ["--chains", var chains, "--depth", var depth])
        {
            Many(int.Parse(chains), int.Parse(depth));
            return;
        }

        var gate = new TaskCompletionSource();
        var orders = new List<Task>();
        for (int i = 0; i < 5; i++)
        {
            orders.Add(Orders.PlaceAsync(gate.Task));
        }

        var source = new ManualSource();
        Task<int> reading = Readers.ConsumeAsync(source);
        var pooledSource = new ManualSource();
        Task<int> pooled = Readers.ConsumePooledAsync(pooledSource);

        Task waitedOn = Orders.PlaceAsync(gate.Task);
        var blocked = new Thread(() => waitedOn.Wait()) { Name = "blocked-worker", IsBackground = true }; // @blocked-wait
        blocked.Start();
        using var parked = new ManualResetEventSlim();
        var sleeper = new Thread(() => parked.Wait()) { Name = "parked-worker", IsBackground = true };
        sleeper.Start();

        // A thread-pool thread stuck inside a resumed async method: its thread stack ends at the junction,
        // past which the logical callers (Jobs.RunAsync) await it.
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var stuck = new ManualResetEventSlim();
        using var entered = new ManualResetEventSlim();
        Task job = Jobs.RunAsync(resume.Task, stuck, entered);
        resume.SetResult();
        entered.Wait();
        // Task.Wait spins (briefly in WaitSleepJoin) before it blocks: ready only once the blocking wait is
        // registered on the task, which is what an inspector sees.
        while (!HasBlockingWaiter(waitedOn) || (sleeper.ThreadState & ThreadState.WaitSleepJoin) == 0)
        {
            Thread.Yield();
        }

        Console.WriteLine("READY " + Environment.ProcessId);
        Console.ReadLine();
        gate.SetResult();
        source.Complete(1);
        pooledSource.Complete(2);
        parked.Set();
        stuck.Set();
        Task.WaitAll([.. orders, reading, pooled, waitedOn, job]);
    }

    /// <summary>A large target for benchmarks: <paramref name="chains"/> suspended chains of <paramref name="depth"/> async frames.</summary>
    private static void Many(int chains, int depth)
    {
        var gate = new TaskCompletionSource();
        var tasks = new Task[chains];
        for (int i = 0; i < chains; i++)
        {
            tasks[i] = Orders.DeepAsync(depth, gate.Task);
        }
        Console.WriteLine("READY " + Environment.ProcessId);
        Console.ReadLine();
        gate.SetResult();
        Task.WaitAll(tasks);
    }

    private static bool HasBlockingWaiter(Task task)
    {
        object? continuation = typeof(Task).GetField("m_continuationObject", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!.GetValue(task);
        return continuation?.GetType().Name == "SetOnInvokeMres" ||
               continuation is List<object?> list && list.Any(c => c?.GetType().Name == "SetOnInvokeMres");
    }
}

public static class Orders
{
    public static async Task PlaceAsync(Task gate)
    {
        await ChargeAsync(gate); // @place
    }

    public static async Task DeepAsync(int depth, Task gate)
    {
        if (depth <= 1)
        {
            await gate;
            return;
        }
        await DeepAsync(depth - 1, gate);
    }

    private static async Task ChargeAsync(Task gate)
    {
        await gate; // @charge
    }
}

public static class Jobs
{
    public static async Task RunAsync(Task resume, ManualResetEventSlim stuck, ManualResetEventSlim entered)
    {
        await StepAsync(resume, stuck, entered); // @job-run
    }

    private static async Task StepAsync(Task resume, ManualResetEventSlim stuck, ManualResetEventSlim entered)
    {
        await resume;
        entered.Set();
        stuck.Wait(); // @job-stuck
    }
}

public static class Readers
{
    public static async Task<int> ConsumePooledAsync(ManualSource source)
    {
        int value = await PooledReadAsync(source); // @consume-pooled
        return value;
    }

    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    private static async ValueTask<int> PooledReadAsync(ManualSource source)
    {
        int value = await source.Task; // @pooled-read
        return value;
    }

    public static async Task<int> ConsumeAsync(ManualSource source)
    {
        int value = await ReadAsync(source); // @consume
        return value;
    }

    private static async ValueTask<int> ReadAsync(ManualSource source)
    {
        int value = await source.Task; // @read
        return value;
    }
}

