using System.Collections.Concurrent;
using Orleans.Concurrency;
using Orleans.Runtime;
using Orleans.Runtime.Placement;

namespace Stackscope.Orleans.Tests;

// Test subjects: real grains whose requests suspend on gates the tests hold. Lines marked `// @name` are asserted
// by the tests; keep each marker on the await it names.

/// <summary>A suspension point a test controls, per grain key: the grain says what it awaits next; the test waits until it is suspended there.</summary>
public sealed class Gate
{
    private static readonly ConcurrentDictionary<string, Gate> s_gates = new();

    public TaskCompletionSource<Task> Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource<string> Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public CancellationTokenSource Abandon { get; } = new();

    public static Gate For(string key) => s_gates.GetOrAdd(key, static _ => new Gate());

    /// <summary>Releases every gate still held (so no grain stays suspended after its test) and forgets them all.</summary>
    public static void ReleaseAll()
    {
        foreach (Gate gate in s_gates.Values)
        {
            gate.Release.TrySetResult("released at the end of the test");
        }
        s_gates.Clear();
    }

    public Task<T> Entering<T>(Task<T> awaited)
    {
        Entered.TrySetResult(awaited);
        return awaited;
    }
}

public interface IStuckGrain : IGrainWithStringKey
{
    Task<string> Wait();
}

/// <summary>Awaits its gate.</summary>
public sealed class StuckGrain : Grain, IStuckGrain
{
    public async Task<string> Wait()
    {
        Gate gate = Gate.For(this.GetPrimaryKeyString());
        string answer = await gate.Entering(gate.Release.Task); // @stuck-await
        return answer + " from " + this.GetPrimaryKeyString();
    }
}

public interface IRelayGrain : IGrainWithStringKey
{
    /// <summary>
    /// Calls <c>path[0]</c> (a relay, or a stuck grain when its key starts with "stuck"), placed on <c>silos[0]</c> when
    /// it is activated, passing it the rest of the path. An empty path returns at once.
    /// </summary>
    Task<string> Call(string[] path, SiloAddress[] silos);
}

/// <summary>Calls the next grain through a helper, so its stack has two frames of its own.</summary>
public sealed class RelayGrain : Grain, IRelayGrain
{
    public async Task<string> Call(string[] path, SiloAddress[] silos)
    {
        if (path.Length == 0)
        {
            return "end";
        }
        string answer = await ForwardAsync(path, silos); // @relay-call
        return answer + " via " + this.GetPrimaryKeyString();
    }

    private async Task<string> ForwardAsync(string[] path, SiloAddress[] silos)
    {
        Gate gate = Gate.For(this.GetPrimaryKeyString());
        RequestContext.Set(IPlacementDirector.PlacementHintKey, silos[0]);
        Task<string> call = path[0].StartsWith("stuck", StringComparison.Ordinal)
            ? GrainFactory.GetGrain<IStuckGrain>(path[0]).Wait()
            : GrainFactory.GetGrain<IRelayGrain>(path[0]).Call(path[1..], silos[1..]);
        RequestContext.Remove(IPlacementDirector.PlacementHintKey);
        return await gate.Entering(call).WaitAsync(gate.Abandon.Token); // @relay-forward
    }
}

public interface IFanOutGrain : IGrainWithStringKey
{
    /// <summary>Calls the stuck grains <paramref name="keys"/> at once and awaits them all.</summary>
    Task<string> CallAll(string[] keys);
}

/// <summary>Awaits a <c>Task.WhenAll</c> of calls to several grains.</summary>
public sealed class FanOutGrain : Grain, IFanOutGrain
{
    public async Task<string> CallAll(string[] keys)
    {
        Gate gate = Gate.For(this.GetPrimaryKeyString());
        Task<string[]> all = Task.WhenAll(keys.Select(k => GrainFactory.GetGrain<IStuckGrain>(k).Wait()));
        string[] answers = await gate.Entering(all); // @fanout-await
        return string.Join(", ", answers);
    }
}

public interface IWorkerGrain : IGrainWithIntegerKey
{
    /// <summary>Calls the stuck grain <paramref name="key"/> and awaits it.</summary>
    Task<string> Relay(string key);
}

/// <summary>A stateless worker (one per silo) relaying a call to a stuck grain.</summary>
[StatelessWorker(1)]
public sealed class WorkerGrain : Grain, IWorkerGrain
{
    public async Task<string> Relay(string key)
    {
        Gate gate = Gate.For("worker-" + key);
        string answer = await gate.Entering(GrainFactory.GetGrain<IStuckGrain>(key).Wait()); // @worker-await
        return answer + " via a worker";
    }
}

public interface IHangingGrain : IGrainWithStringKey
{
    /// <summary>Awaits its gate; its callers give up after 1 s (Orleans' per-method response timeout).</summary>
    [ResponseTimeout("00:00:01")]
    Task<string> Hang();
}

/// <summary>Awaits its gate past its callers' response timeout.</summary>
public sealed class HangingGrain : Grain, IHangingGrain
{
    public async Task<string> Hang()
    {
        Gate gate = Gate.For(this.GetPrimaryKeyString());
        string answer = await gate.Entering(gate.Release.Task); // @hang-await
        return answer + " from " + this.GetPrimaryKeyString();
    }
}

public interface ICallerGrain : IGrainWithStringKey
{
    /// <summary>Calls the hanging grain <paramref name="key"/> and returns its answer (or lets its exception through).</summary>
    Task<string> CallHanging(string key);
}

/// <summary>A grain calling a hanging grain: the call times out on this grain's silo.</summary>
public sealed class CallerGrain : Grain, ICallerGrain
{
    public async Task<string> CallHanging(string key) => await GrainFactory.GetGrain<IHangingGrain>(key).Hang(); // @caller-await
}
