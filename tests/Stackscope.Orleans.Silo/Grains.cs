using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;
using Stackscope.Tests;

namespace Stackscope.Orleans.Silo;

// Grains of the multi-process cluster tests: real grains whose requests suspend on gates the tests hold from another
// process (tests/Shared/Gate.cs). Lines marked `// @name` are asserted by the tests; keep each marker on the await it names.

public interface IStuckGrain : IGrainWithStringKey
{
    /// <summary>Awaits the gate named by the grain's key.</summary>
    Task<string> Wait();
}

public sealed class StuckGrain : Grain, IStuckGrain
{
    public async Task<string> Wait()
    {
        string answer = await Gate.Enter(this.GetPrimaryKeyString()); // @stuck-await
        return answer + " from " + this.GetPrimaryKeyString();
    }
}

public interface IRelayGrain : IGrainWithStringKey
{
    /// <summary>
    /// Calls <c>path[0]</c> (a relay, or a stuck grain when its key starts with "stuck"), placed on <c>silos[0]</c> when
    /// it is activated, passing it the rest of the path; its gate (its own key) is entered while it waits for the answer
    /// and can be abandoned. An empty path returns at once. Silo addresses cross processes as they are (Orleans serializes them).
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
        string key = this.GetPrimaryKeyString();
        RequestContext.Set(IPlacementDirector.PlacementHintKey, silos[0]);
        Task<string> call = path[0].StartsWith("stuck", StringComparison.Ordinal)
            ? GrainFactory.GetGrain<IStuckGrain>(path[0]).Wait()
            : GrainFactory.GetGrain<IRelayGrain>(path[0]).Call(path[1..], silos[1..]);
        RequestContext.Remove(IPlacementDirector.PlacementHintKey);
        return await Gate.Entering(key, call).WaitAsync(Gate.Abandoned(key)); // @relay-forward
    }
}

public interface IQueueGrain : IGrainWithStringKey
{
    /// <summary>Awaits the gate <paramref name="gate"/>. Not reentrant: a second call waits in the activation's queue until the first returns.</summary>
    Task<string> Hold(string gate);
}

public sealed class QueueGrain : Grain, IQueueGrain
{
    public async Task<string> Hold(string gate)
    {
        string answer = await Gate.Enter(gate); // @queue-await
        return answer + " from " + gate;
    }
}

public interface IDeadlockGrain : IGrainWithStringKey
{
    /// <summary>
    /// Calls <paramref name="partner"/> (placed on <paramref name="partnerSilo"/> when activated), which calls this grain
    /// back: neither is reentrant, so the call back waits in this grain's queue behind this request, a call cycle.
    /// Both wait at their gates (their keys), and abandoning either breaks the cycle.
    /// </summary>
    Task<string> CallPartner(string partner, SiloAddress partnerSilo);

    /// <summary>Calls <paramref name="caller"/>'s <see cref="Back"/>.</summary>
    Task<string> CallBack(string caller);

    Task<string> Back();
}

public sealed class DeadlockGrain : Grain, IDeadlockGrain
{
    public async Task<string> CallPartner(string partner, SiloAddress partnerSilo)
    {
        string key = this.GetPrimaryKeyString();
        RequestContext.Set(IPlacementDirector.PlacementHintKey, partnerSilo);
        Task<string> call = GrainFactory.GetGrain<IDeadlockGrain>(partner).CallBack(key);
        RequestContext.Remove(IPlacementDirector.PlacementHintKey);
        return await Gate.Entering(key, call).WaitAsync(Gate.Abandoned(key)); // @deadlock-call
    }

    public async Task<string> CallBack(string caller)
    {
        string key = this.GetPrimaryKeyString();
        return await Gate.Entering(key, GrainFactory.GetGrain<IDeadlockGrain>(caller).Back()).WaitAsync(Gate.Abandoned(key)); // @deadlock-callback
    }

    public Task<string> Back() => Task.FromResult("back from " + this.GetPrimaryKeyString());
}

public interface IPingGrain : IGrainWithIntegerKey
{
    /// <summary>Returns <paramref name="value"/> at once: the cost of a call, for throughput measurements.</summary>
    Task<int> Ping(int value);
}

public sealed class PingGrain : Grain, IPingGrain
{
    public Task<int> Ping(int value) => Task.FromResult(value);
}

public interface IIdleGrain : IGrainWithStringKey
{
    /// <summary>Activates the grain (which then stays idle) and returns the address of the silo it lives on.</summary>
    Task<SiloAddress> Touch();
}

/// <summary>An activation that does nothing; placed on the silo of its first caller.</summary>
[PreferLocalPlacement]
public sealed class IdleGrain(ILocalSiloDetails silo) : Grain, IIdleGrain
{
    public Task<SiloAddress> Touch() => Task.FromResult(silo.SiloAddress);
}

public interface IIdleSpawnerGrain : IGrainWithStringKey
{
    /// <summary>Activates the idle grains <c>{prefix}-0</c> … <c>{prefix}-{count - 1}</c> on this grain's silo; returns how many live there.</summary>
    Task<int> Spawn(string prefix, int count);
}

public sealed class IdleSpawnerGrain(ILocalSiloDetails silo) : Grain, IIdleSpawnerGrain
{
    public async Task<int> Spawn(string prefix, int count)
    {
        var here = 0;
        for (int start = 0; start < count; start += 500)
        {
            SiloAddress[] at = await Task.WhenAll(Enumerable.Range(start, Math.Min(500, count - start)).Select(i => GrainFactory.GetGrain<IIdleGrain>($"{prefix}-{i}").Touch()));
            here += at.Count(a => a.Equals(silo.SiloAddress));
        }
        return here;
    }
}
