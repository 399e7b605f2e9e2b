using Microsoft.Extensions.DependencyInjection;
using Orleans.Placement;
using Orleans.Runtime;
using Stackscope;
using Stackscope.Orleans;

namespace Stackscope.Orleans.Benchmarks;

// The grains of the multi-process cluster benchmarks, hosted by the silo processes (SiloRole.cs). Their class names
// differ from GrainCallBenchmarks' (PingGrain, PongGrain): Orleans names grain types after their classes.

public interface IClusterPingGrain : IGrainWithIntegerKey
{
    /// <summary>Returns <paramref name="value"/> + 1 at once: the cost of a call.</summary>
    Task<int> Ping(int value);

    /// <summary>The silo it lives on (parsable address) and what Stackscope does there: "off", "default" or "track".</summary>
    Task<string> Describe();
}

public sealed class ClusterPingGrain(ILocalSiloDetails silo) : Grain, IClusterPingGrain
{
    public Task<int> Ping(int value) => Task.FromResult(value + 1);

    public Task<string> Describe()
    {
        string stackscope = ServiceProvider.GetService<IGrainStacks>() is null ? "off" : TaskTracking.IsEnabled ? "track" : "default";
        return Task.FromResult(silo.SiloAddress.ToParsableString() + " " + stackscope);
    }
}

public interface IClusterIdleGrain : IGrainWithStringKey
{
    /// <summary>Activates the grain (which then stays idle) and returns the address of the silo it lives on.</summary>
    Task<SiloAddress> Touch();
}

/// <summary>An activation that does nothing; placed on the silo of its first caller.</summary>
[PreferLocalPlacement]
public sealed class ClusterIdleGrain(ILocalSiloDetails silo) : Grain, IClusterIdleGrain
{
    public Task<SiloAddress> Touch() => Task.FromResult(silo.SiloAddress);
}

public interface IClusterSpawnerGrain : IGrainWithStringKey
{
    /// <summary>Activates the idle grains <c>{prefix}-0</c> … <c>{prefix}-{count - 1}</c>, 500 at a time; returns how many live on this grain's silo.</summary>
    Task<int> Spawn(string prefix, int count);
}

public sealed class ClusterSpawnerGrain(ILocalSiloDetails silo) : Grain, IClusterSpawnerGrain
{
    public async Task<int> Spawn(string prefix, int count)
    {
        var here = 0;
        for (int start = 0; start < count; start += 500)
        {
            IEnumerable<Task<SiloAddress>> touches = Enumerable.Range(start, Math.Min(500, count - start))
                .Select(i => GrainFactory.GetGrain<IClusterIdleGrain>($"{prefix}-{i}").Touch());
            here += (await Task.WhenAll(touches)).Count(a => a.Equals(silo.SiloAddress));
        }
        return here;
    }
}

public interface IClusterHeldGrain : IGrainWithStringKey
{
    /// <summary>Suspends on <see cref="HeldGate"/> (three async frames deep) until the silo process stops.</summary>
    Task<string> Hold();
}

public sealed class ClusterHeldGrain : Grain, IClusterHeldGrain
{
    public async Task<string> Hold()
    {
        // "held <key>" goes out after this turn, on the activation's scheduler: by then the request is suspended below.
        string key = this.GetPrimaryKeyString();
        _ = Task.Factory.StartNew(() => Console.Out.WriteLine("held " + key), CancellationToken.None, TaskCreationOptions.None, TaskScheduler.Current);
        await ProcessAsync();
        return key;
    }

    private static async Task ProcessAsync() => await WaitForStopAsync();

    private static async Task WaitForStopAsync() => await HeldGate.Released;
}

/// <summary>What the held requests await: completed only when the silo process stops (never during a run).</summary>
public static class HeldGate
{
    private static readonly TaskCompletionSource s_gate = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static Task Released => s_gate.Task;

    public static void Release() => s_gate.TrySetResult();
}
