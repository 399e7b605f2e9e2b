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
/// Grain-call throughput, ping-pong between two grains of one silo: a single-silo cluster per case, started only for
/// that case (BenchmarkDotNet runs each case in a process of its own): without Stackscope; with <c>AddStackscope()</c>
/// (defaults: nothing runs per call); with the stuck-request monitor at the monitor's default settings (a read of the silo
/// every 5 s, threshold 30 s); with timeouts explained (an outgoing call filter on every call). Each operation is one
/// grain-to-grain call and its response.
/// </summary>
[MemoryDiagnoser]
public class GrainCallBenchmarks
{
    private const int Calls = 2000; // an iteration of at least 100 ms (BenchmarkDotNet warned at 500 calls: 77 ms)

    private InProcessTestCluster _cluster = null!;
    private (IPingGrain Ping, IPongGrain Pong) _pair;

    [GlobalSetup(Target = nameof(Without))]
    public Task SetupWithout() => Setup(null);

    [GlobalSetup(Target = nameof(With))]
    public Task SetupWith() => Setup(silo => silo.AddStackscope());

    [GlobalSetup(Target = nameof(WithMonitor))]
    public Task SetupWithMonitor() => Setup(silo => silo.AddStackscope(o => o.MonitorStuckRequests = true));

    [GlobalSetup(Target = nameof(WithTimeoutsExplained))]
    public Task SetupWithTimeoutsExplained() => Setup(silo => silo.AddStackscope(o => o.ExplainTimeouts = true));

    private async Task Setup(Action<ISiloBuilder>? stackscope)
    {
        var builder = new InProcessTestClusterBuilder(1);
        if (stackscope is not null)
        {
            builder.ConfigureSilo((_, silo) => stackscope(silo));
        }
        _cluster = builder.Build();
        await _cluster.DeployAsync();
        _pair = (_cluster.Client.GetGrain<IPingGrain>(1), _cluster.Client.GetGrain<IPongGrain>(2));
        if (await _pair.Ping.Rally(_pair.Pong, Calls) != Calls)
        {
            throw new InvalidOperationException("the rally did not count");
        }
    }

    [GlobalCleanup]
    public async Task Cleanup() => await _cluster.DisposeAsync();

    [Benchmark(Baseline = true, OperationsPerInvoke = Calls, Description = "grain call, without Stackscope")]
    public Task<int> Without() => _pair.Ping.Rally(_pair.Pong, Calls);

    [Benchmark(OperationsPerInvoke = Calls, Description = "grain call, with AddStackscope()")]
    public Task<int> With() => _pair.Ping.Rally(_pair.Pong, Calls);

    [Benchmark(OperationsPerInvoke = Calls, Description = "grain call, with MonitorStuckRequests")]
    public Task<int> WithMonitor() => _pair.Ping.Rally(_pair.Pong, Calls);

    [Benchmark(OperationsPerInvoke = Calls, Description = "grain call, with ExplainTimeouts")]
    public Task<int> WithTimeoutsExplained() => _pair.Ping.Rally(_pair.Pong, Calls);
}
