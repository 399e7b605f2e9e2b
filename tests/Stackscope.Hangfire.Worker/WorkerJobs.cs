using System.Collections.Concurrent;
using Hangfire;

namespace Stackscope.Hangfire.Worker;

// Jobs the cluster tests enqueue and this worker process performs. Lines marked `// @name` are asserted by the tests.

/// <summary>A gate per key: a job says it entered (a line on stdout), the test releases it (a line on stdin).</summary>
public static class Gates
{
    private static readonly ConcurrentDictionary<string, TaskCompletionSource<string>> s_gates = new();
    private static readonly object s_blocked = new();

    public static TaskCompletionSource<string> For(string key) =>
        s_gates.GetOrAdd(key, static _ => new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously));

    public static void Enter(string key) => Console.Out.WriteLine("entered " + key);

    public static void Release(string key)
    {
        For(key).TrySetResult("released");
        lock (s_blocked)
        {
            Monitor.PulseAll(s_blocked);
        }
    }

    public static void Block(string key)
    {
        lock (s_blocked)
        {
            Enter(key);
            while (!For(key).Task.IsCompleted)
            {
                Monitor.Wait(s_blocked); // @worker-sync-wait
            }
        }
    }
}

public static class WorkerJobs
{
    public static async Task AsyncWait(string key)
    {
        TaskCompletionSource<string> gate = Gates.For(key);
        Task<string> wait = gate.Task;
        Gates.Enter(key);
        await wait; // @worker-async-await
    }

    public static void SyncWait(string key) => Gates.Block(key); // @worker-sync-job

    /// <summary>Holds the storage's distributed lock on <paramref name="resource"/> while it waits at its gate.</summary>
    public static async Task HoldLock(string resource, string key)
    {
        using var connection = JobStorage.Current.GetConnection();
        using IDisposable held = connection.AcquireDistributedLock(resource, TimeSpan.FromSeconds(30)); // @worker-lock-held
        Task<string> wait = Gates.For(key).Task;
        Gates.Enter(key);
        await wait; // @worker-lock-holder-await
    }

    /// <summary>Takes the same lock, synchronously: blocked until the holder lets go (says it entered just before).</summary>
    public static void WaitForLock(string resource, string key)
    {
        using var connection = JobStorage.Current.GetConnection();
        Gates.Enter(key);
        using IDisposable held = connection.AcquireDistributedLock(resource, TimeSpan.FromMinutes(5)); // @worker-lock-wait
    }
}
