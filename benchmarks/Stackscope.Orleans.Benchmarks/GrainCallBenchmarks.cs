using BenchmarkDotNet.Attributes;
using Orleans.TestingHost;
using Stackscope.Orleans;

public interface IPongGrain : IGrainWithIntegerKey
{
    Task<int> Pong(int value);
}

public interface IPingGrain : IGrainWithIntegerKey
{
    /// <summary>Calls <paramref name="other"/> <paramref name="count"/> times, one call after the other.</summary>
    Task<int> Rally(IPongGrain other, int count);
}

public sealed class PongGrain : Grain, IPongGrain
{
    public Task<int> Pong(int value) => Task.FromResult(value + 1);
}

public sealed class PingGrain : Grain, IPingGrain
{
    public async Task<int> Rally(IPongGrain other, int count)
    {
        int value = 0;
        for (int i = 0; i < count; i++)
        {
            value = await other.Pong(value);
        }
        return value;
    }
}

/// <summary>
/// Grain-call throughput, ping-pong between two grains of one silo, in two clusters of the same process: one
/// without Stackscope, one with <c>AddStackscope()</c> (defaults: nothing runs per call). Each operation is one
/// grain-to-grain call and its response.
/// </summary>
[MemoryDiagnoser]
public class GrainCallBenchmarks
{
    private const int Calls = 2000; // an iteration of at least 100 ms (BenchmarkDotNet warned at 500 calls: 77 ms)

    private InProcessTestCluster _plain = null!;
    private InProcessTestCluster _glued = null!;
    private (IPingGrain Ping, IPongGrain Pong) _plainPair;
    private (IPingGrain Ping, IPongGrain Pong) _gluedPair;

    [GlobalSetup]
    public async Task Setup()
    {
        _plain = await Start(withStackscope: false);
        _glued = await Start(withStackscope: true);
        _plainPair = (_plain.Client.GetGrain<IPingGrain>(1), _plain.Client.GetGrain<IPongGrain>(2));
        _gluedPair = (_glued.Client.GetGrain<IPingGrain>(1), _glued.Client.GetGrain<IPongGrain>(2));
        if (await _plainPair.Ping.Rally(_plainPair.Pong, Calls) != Calls || await _gluedPair.Ping.Rally(_gluedPair.Pong, Calls) != Calls)
        {
            throw new InvalidOperationException("the rally did not count");
        }
    }

    private static async Task<InProcessTestCluster> Start(bool withStackscope)
    {
        var builder = new InProcessTestClusterBuilder(1);
        if (withStackscope)
        {
            builder.ConfigureSilo((_, silo) => silo.AddStackscope());
        }
        InProcessTestCluster cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _plain.DisposeAsync();
        await _glued.DisposeAsync();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Calls, Description = "grain call, without Stackscope")]
    public Task<int> Without() => _plainPair.Ping.Rally(_plainPair.Pong, Calls);

    [Benchmark(OperationsPerInvoke = Calls, Description = "grain call, with AddStackscope()")]
    public Task<int> With() => _gluedPair.Ping.Rally(_gluedPair.Pong, Calls);
}
