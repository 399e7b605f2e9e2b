using System.Collections.Concurrent;
using Hangfire.Server;

namespace Stackscope.Hangfire.Tests;

// Test subjects: real Hangfire jobs that suspend on gates the tests hold. Lines marked `// @name` are asserted by
// the tests; keep each marker on the line it names.

/// <summary>A suspension point a test controls, per key.</summary>
public sealed class Gate
{
    private static readonly ConcurrentDictionary<string, Gate> s_gates = new();
    private bool _released;

    public TaskCompletionSource<Task?> Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource<string> Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public object Lock { get; } = new();

    public static Gate For(string key) => s_gates.GetOrAdd(key, static _ => new Gate());

    public static void ReleaseAll()
    {
        foreach (Gate gate in s_gates.Values)
        {
            gate.Open();
        }
        s_gates.Clear();
    }

    public Task<T> Entering<T>(Task<T> awaited)
    {
        Entered.TrySetResult(awaited);
        return awaited;
    }

    /// <summary>Lets both kinds of waiter go: the async one awaiting <see cref="Release"/>, the sync one in <see cref="Monitor.Wait(object)"/>.</summary>
    public void Open()
    {
        Release.TrySetResult("released");
        lock (Lock)
        {
            _released = true;
            Monitor.PulseAll(Lock);
        }
    }

    /// <summary>Blocks the calling (worker) thread until <see cref="Open"/>; says it entered once it holds the lock it will wait on.</summary>
    public void Block()
    {
        lock (Lock)
        {
            Entered.TrySetResult(null);
            while (!_released)
            {
                Monitor.Wait(Lock); // @sync-wait
            }
        }
    }
}

/// <summary>A lock scope over a semaphore: what a job holds while it works on a shared resource.</summary>
public sealed class LockScope(SemaphoreSlim semaphore) : IDisposable
{
    private readonly SemaphoreSlim _semaphore = semaphore;

    public static async Task<LockScope> EnterAsync(SemaphoreSlim semaphore)
    {
        await semaphore.WaitAsync(); // @lock-enter
        return new LockScope(semaphore);
    }

    public void Dispose() => _semaphore.Release();
}

public static class Jobs
{
    public static readonly SemaphoreSlim Stock = new(1, 1);

    public static void SyncWait(string key) => Gate.For(key).Block(); // @sync-job

    public static async Task AsyncWait(string key)
    {
        Gate gate = Gate.For(key);
        await gate.Entering(gate.Release.Task); // @async-await
    }

    public static async Task HoldStock(string key)
    {
        Gate gate = Gate.For(key);
        using LockScope stock = await LockScope.EnterAsync(Stock); // @hold-enter
        await gate.Entering(gate.Release.Task); // @hold-await
    }

    public static async Task WaitForStock(string key)
    {
        Gate gate = Gate.For(key);
        using LockScope stock = await gate.Entering(LockScope.EnterAsync(Stock)); // @wait-stock
    }

    /// <summary>Holds the storage's distributed lock on <paramref name="resource"/> while it waits at its gate (the context is Hangfire's).</summary>
    public static async Task HoldDistributedLock(string resource, string key, PerformContext? context)
    {
        Gate gate = Gate.For(key);
        using var connection = context!.Storage.GetConnection();
        using IDisposable held = connection.AcquireDistributedLock(resource, TimeSpan.FromSeconds(30)); // @hold-distributed
        await gate.Entering(gate.Release.Task); // @hold-distributed-await
    }

    /// <summary>Takes the same lock synchronously: blocked in the storage until the holder lets go.</summary>
    public static void WaitForDistributedLock(string resource, PerformContext? context)
    {
        using var connection = context!.Storage.GetConnection();
        using IDisposable held = connection.AcquireDistributedLock(resource, TimeSpan.FromMinutes(1)); // @wait-distributed
    }

    private static readonly ConcurrentDictionary<string, int> s_executions = new();

    /// <summary>Ignores cancellation: each execution (a requeued job runs again) waits at its own gate, <c>key#1</c>, <c>key#2</c>, ...</summary>
    public static async Task IgnoresCancellation(string key)
    {
        int execution = s_executions.AddOrUpdate(key, 1, static (_, n) => n + 1);
        Gate gate = Gate.For($"{key}#{execution}");
        await gate.Entering(gate.Release.Task); // @twice-await
    }

    /// <summary>Ignores its cancellation token: a server stopping cancels it, and the job goes on waiting at its gate.</summary>
    public static async Task IgnoresShutdown(string key, CancellationToken cancellationToken)
    {
        Gate gate = Gate.For(key);
        await gate.Entering(gate.Release.Task); // @shutdown-await
    }

    /// <summary>Waits for its cancellation token alone: it stops as soon as the server cancels it.</summary>
    public static async Task HonorsShutdown(string key, CancellationToken cancellationToken)
    {
        Gate gate = Gate.For(key);
        await gate.Entering(Task.Delay(Timeout.Infinite, cancellationToken).ContinueWith(static t => t.Status, TaskScheduler.Default)); // @honors-await
        cancellationToken.ThrowIfCancellationRequested();
    }

    public static void Nothing()
    {
    }
}
