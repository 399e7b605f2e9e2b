using System.Diagnostics;
using BenchmarkDotNet.Attributes;

namespace Stackscope.Orleans.Benchmarks;

/// <summary>
/// Grain-call throughput on a real multi-process cluster with and without Stackscope in the silos: 3 silos, each in its
/// own OS process (this program with <c>--silo-role</c>), clustered through Redis started by Testcontainers, started
/// without Stackscope, with <c>AddStackscope()</c> (defaults: nothing runs per call) or with
/// <c>AddStackscope(o =&gt; o.TrackRequests = true)</c> (TaskTracking on in every silo). A client-only host in this process,
/// the same in every case, calls 100 ping grains (34 + 33 + 33 over the silos) in 20 parallel batches of 100 calls per
/// invocation: one operation is one call from the client to a grain and its response. BenchmarkDotNet runs each case in
/// a process of its own, each starting only its own cluster; two launches per case, so that what one set of processes
/// happens to get (its gateways, its place among the machine's other work) weighs half.
/// </summary>
[SimpleJob(launchCount: 2, warmupCount: 2, iterationCount: 20)]
[MemoryDiagnoser]
public class ClusterCallBenchmarks
{
    private const int SiloCount = 3;
    private const int Grains = 100;
    private const int Calls = 2000;
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromSeconds(30);
    private const long Expected = Calls / Grains * (Grains * (Grains + 1L) / 2); // every batch: Σ (i + 1)

    private BenchCluster? _cluster;
    private IClusterPingGrain[] _pings = [];

    [GlobalSetup(Target = nameof(Without))]
    public Task SetupWithout() => Setup("off");

    [GlobalSetup(Target = nameof(WithDefaults))]
    public Task SetupWithDefaults() => Setup("default");

    [GlobalSetup(Target = nameof(WithTrackRequests))]
    public Task SetupWithTrackRequests() => Setup("track");

    private async Task Setup(string stackscope)
    {
        try
        {
            _cluster = await BenchCluster.StartAsync(SiloCount, stackscope, clientReader: false);
            // Each ping grain activated on silo i % 3 by the placement hint; a broken set-up must not report numbers: each
            // says it lives there, with the case's Stackscope.
            _pings = Enumerable.Range(0, Grains).Select(i => _cluster.Client.GetGrain<IClusterPingGrain>(i)).ToArray();
            string[] described = await Task.WhenAll(_pings.Select((p, i) => _cluster.OnSilo(_cluster.Silos[i % SiloCount], _ => p.Describe())))
                .WaitAsync(BenchCluster.Bound);
            string[] expected = Enumerable.Range(0, Grains).Select(i => _cluster.Silos[i % SiloCount].Address.ToParsableString() + " " + stackscope).ToArray();
            if (!described.SequenceEqual(expected))
            {
                throw new InvalidOperationException("the ping grains are not where, or not as, described:\n"
                    + string.Join("\n", described.Zip(expected).Where(static d => d.First != d.Second).Select(static d => $"{d.First} (expected {d.Second})")));
            }
            Console.WriteLine($"// {Grains} ping grains on {SiloCount} silos (stackscope {stackscope}); warm-up: {await WarmUp()}");
        }
        catch (Exception)
        {
            await Cleanup(); // BenchmarkDotNet does not clean up after a failed set-up: the silos and the container go here
            throw;
        }
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        if (_cluster is not null)
        {
            await _cluster.DisposeAsync();
            _cluster = null;
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Calls, Description = "client → grain call, silos without Stackscope")]
    public Task<long> Without() => Calling();

    [Benchmark(OperationsPerInvoke = Calls, Description = "client → grain call, silos with AddStackscope()")]
    public Task<long> WithDefaults() => Calling();

    [Benchmark(OperationsPerInvoke = Calls, Description = "client → grain call, silos with TrackRequests = true")]
    public Task<long> WithTrackRequests() => Calling();

    /// <summary>
    /// Calls for <see cref="WarmUpTime"/> before BenchmarkDotNet's own warm-up, which warms this process only: freshly started
    /// silos answer several times slower at first (their code being compiled, tier by tier) and would drift through the run.
    /// Returns the time per call in each 2-second window, for the log.
    /// </summary>
    private async Task<string> WarmUp()
    {
        var windows = new List<string>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed < WarmUpTime)
        {
            var window = Stopwatch.StartNew();
            long calls = 0;
            for (; window.Elapsed < TimeSpan.FromSeconds(2); calls += Calls)
            {
                await Calling();
            }
            windows.Add($"{window.Elapsed.TotalMicroseconds / calls:F1}");
        }
        return "µs per call by 2 s window: " + string.Join(", ", windows);
    }

    /// <summary>20 batches of 100 calls in parallel, one to each ping grain.</summary>
    private async Task<long> Calling()
    {
        long sum = 0;
        var batch = new Task<int>[Grains];
        for (int b = 0; b < Calls / Grains; b++)
        {
            for (int i = 0; i < Grains; i++)
            {
                batch[i] = _pings[i].Ping(i);
            }
            foreach (int answer in await Task.WhenAll(batch))
            {
                sum += answer;
            }
        }
        return sum == Expected ? sum : throw new InvalidOperationException($"the pings summed to {sum}, not {Expected}");
    }
}
