using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using Stackscope.Monitoring;
using Stackscope.Orleans;

/// <summary>
/// What the stuck-request monitor spends per poll at its default settings (one poll every 5 s, threshold 30 s): one
/// <see cref="StuckWorkMonitor.Poll"/> of the ping-pong silo while rallies run on it without pause (the state every poll
/// finds in <see cref="GrainCallBenchmarks"/>: a request awaiting a grain call). Its time over the 5 s interval is the
/// monitor's share of the silo's time, a figure the run-to-run noise of the call benchmark cannot hide.
/// </summary>
[MemoryDiagnoser]
public class MonitorPollBenchmarks
{
    private InProcessTestCluster _cluster = null!;
    private StuckWorkMonitor _monitor = null!;
    private readonly CancellationTokenSource _stop = new();
    private Task _rallies = Task.CompletedTask;

    [GlobalSetup]
    public async Task Setup()
    {
        var builder = new InProcessTestClusterBuilder(1);
        builder.ConfigureSilo((_, silo) => silo.AddStackscope(o => o.MonitorStuckRequests = true));
        _cluster = builder.Build();
        await _cluster.DeployAsync();
        _monitor = _cluster.Silos[0].SiloHost.Services.GetRequiredService<StuckWorkMonitor>();
        IPingGrain ping = _cluster.Client.GetGrain<IPingGrain>(1);
        IPongGrain pong = _cluster.Client.GetGrain<IPongGrain>(2);
        _rallies = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                await ping.Rally(pong, 2000);
            }
        });
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        _stop.Cancel();
        await _rallies;
        await _cluster.DisposeAsync();
    }

    [Benchmark(Description = "one monitor poll of the ping-pong silo, rallies running")]
    public int Poll() => _monitor.Poll().Count;
}
