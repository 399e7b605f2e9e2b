using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using Orleans.Runtime;

namespace Stackscope.Orleans.Benchmarks;

/// <summary>
/// The cluster query's latency on a real multi-process cluster, 1 silo against 3: silos each in its own OS process
/// (this program with <c>--silo-role</c>, <c>AddStackscope(o =&gt; o.TrackRequests = true)</c>), clustered through Redis
/// started by Testcontainers, with 10,000 idle activations spread evenly over the silos and 50 requests suspended on a
/// gate (three async frames deep), spread too. This process is a client-only host
/// (<c>UseOrleansClient(c =&gt; c.AddStackscope(o =&gt; o.StuckThreshold = TimeSpan.Zero))</c>) and reads the cluster with
/// <c>IGrainStacks.GetClusterStacksAsync()</c>; Orleans' own <c>IManagementGrain.GetDetailedGrainStatistics()</c> (every
/// activation of every silo, no stacks) is the reference in each cluster. BenchmarkDotNet runs each case in a process
/// of its own, so each case starts its own container, silos and activations. One read per iteration, after a pause of
/// <see cref="PauseMs"/> (not measured; see <see cref="Pause"/>).
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 30, invocationCount: 1)]
[MedianColumn]
[MemoryDiagnoser]
public class ClusterReadBenchmarks
{
    private const int Activations = 10_000;
    private const int Busy = 50;
    private const string HeldPrefix = "clusterheld/held-";
    private const int PauseMs = 1000;
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromSeconds(30);

    private BenchCluster? _cluster;
    private IGrainStacks _stacks = null!;
    private IManagementGrain _management = null!;
    private readonly List<Task<string>> _held = [];
    private readonly List<(double Ms, bool AllStacks)> _reads = []; // each stack read's time, and whether it had all 50 stacks

    [Params(1, 3)]
    public int Silos { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        try
        {
            await StartAsync();
        }
        catch (Exception)
        {
            await Cleanup(); // BenchmarkDotNet does not clean up after a failed set-up: the silos and the container go here
            throw;
        }
    }

    private async Task StartAsync()
    {
        _cluster = await BenchCluster.StartAsync(Silos, stackscope: "track", clientReader: true);
        _stacks = _cluster.Stacks;
        _management = _cluster.Client.GetGrain<IManagementGrain>(0);

        // 10,000 idle activations, as evenly as the silo count allows: a spawner placed on each silo activates its share there.
        var clock = Stopwatch.StartNew();
        int[] shares = Enumerable.Range(0, Silos).Select(i => Activations / Silos + (i < Activations % Silos ? 1 : 0)).ToArray();
        int[] placed = await Task.WhenAll(_cluster.Silos.Select((s, i) =>
            _cluster.OnSilo(s, c => c.GetGrain<IClusterSpawnerGrain>($"spawner-{i}").Spawn($"idle-{i}", shares[i])).WaitAsync(TimeSpan.FromMinutes(3))));
        if (!placed.SequenceEqual(shares))
        {
            throw new InvalidOperationException($"idle activations on the silo asked: {string.Join(", ", placed)}, not {string.Join(", ", shares)}");
        }
        Console.WriteLine($"// {Activations:N0} idle activations ({string.Join(" + ", placed)}) in {clock.Elapsed.TotalSeconds:F1} s");

        // 50 requests suspended, silo i % Silos each; each silo prints "held <key>" once its requests are suspended.
        for (int i = 0; i < Busy; i++)
        {
            int key = i;
            _held.Add(_cluster.OnSilo(_cluster.Silos[i % Silos], c => c.GetGrain<IClusterHeldGrain>($"held-{key}").Hold()));
        }
        await Task.WhenAll(_cluster.Silos.Select((s, n) => s.Process.WaitForCountAsync(
            static l => l.StartsWith("held ", StringComparison.Ordinal), Enumerable.Range(0, Busy).Count(i => i % Silos == n), BenchCluster.Bound, "its held lines")));

        // A broken set-up must not report numbers: every silo answers, 10,000 activations and more, the 50 held requests
        // each with its three frames on the silo it was placed on, in the first read; Orleans' statistics count the same activations.
        ClusterStacks stacks = await ReadClusterStacks();
        string summary = string.Join(", ", stacks.Silos.Select(static s => $"{s.Silo}: {s.ActivationCount} activations, {s.Activations.Count} busy"));
        GrainCallChain[] held = stacks.Stuck.Where(static c => c.Request.Grain.StartsWith(HeldPrefix, StringComparison.Ordinal)).ToArray();
        int[] heldPerSilo = _cluster.Silos.Select(s => held.Count(c => c.Request.Silo == s.Name)).ToArray();
        int[] expectedPerSilo = _cluster.Silos.Select((_, n) => Enumerable.Range(0, Busy).Count(i => i % Silos == n)).ToArray();
        if (stacks.Silos.Sum(static s => s.ActivationCount) < Activations + Busy
            || held.Any(static c => c.Request.Stack is not { Frames.Count: 3 })
            || !heldPerSilo.SequenceEqual(expectedPerSilo))
        {
            throw new InvalidOperationException($"not the cluster described: {summary}; held requests with 3-frame stacks per silo: "
                + string.Join(", ", _cluster.Silos.Select(s => held.Count(c => c.Request.Silo == s.Name && c.Request.Stack?.Frames.Count == 3))) + "\n" + stacks);
        }
        DetailedGrainStatistic[] statistics = await DetailedStatistics();
        Console.WriteLine($"// read: {summary}; {held.Length} held requests with stacks ({string.Join(" + ", heldPerSilo)}), {stacks.Stuck.Count} stuck in all;"
            + $" Orleans' statistics: {statistics.Length} activations; text form {stacks.ToString().Length:N0} chars");
        Console.WriteLine($"// warm-up: {await WarmUp()}");
        foreach (SiloRoleProcess silo in _cluster.Silos)
        {
            Console.WriteLine($"// {silo.Name}: {await silo.MeasureScanAsync()}"); // one silo at a time
        }
        _reads.Clear();
    }

    /// <summary>
    /// Both reads, alternately, for <see cref="WarmUpTime"/> before BenchmarkDotNet's own warm-up, which warms this process
    /// only: freshly started silos answer several times slower at first (their code being compiled, tier by tier) and
    /// would drift through the run. Returns the mean time of each read by 5-second window, for the log.
    /// </summary>
    private async Task<string> WarmUp()
    {
        var windows = new List<string>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed < WarmUpTime)
        {
            var statistics = new Stopwatch();
            var stacks = new Stopwatch();
            int rounds = 0;
            for (var window = Stopwatch.StartNew(); window.Elapsed < TimeSpan.FromSeconds(5); rounds++)
            {
                statistics.Start();
                await DetailedStatistics();
                statistics.Stop();
                stacks.Start();
                await ReadClusterStacks();
                stacks.Stop();
            }
            windows.Add($"{statistics.Elapsed.TotalMilliseconds / rounds:F0}/{stacks.Elapsed.TotalMilliseconds / rounds:F0}");
        }
        return "ms per read, statistics/stacks, by 5 s window: " + string.Join(", ", windows);
    }

    /// <summary>The median time of the stack reads since the warm-up that had (or lacked) all 50 stacks, for the log.</summary>
    private string Median(bool allStacks)
    {
        double[] times = _reads.Where(r => r.AllStacks == allStacks).Select(static r => r.Ms).Order().ToArray();
        return times.Length == 0 ? "none" : $"{times[times.Length / 2]:F1} ms over {times.Length}";
    }

    private static int HeldWithStacks(ClusterStacks stacks) =>
        stacks.Stuck.Count(static c => c.Request.Grain.StartsWith(HeldPrefix, StringComparison.Ordinal) && c.Request.Stack is { Frames.Count: 3 });

    /// <summary>
    /// A pause before each read, not measured: each read leaves work behind in the silos (the reader asks three gatherers
    /// at once and takes the first answer), and reads back to back would each wait for the previous one's. A person
    /// opening the admin page reads a cluster at rest.
    /// </summary>
    [IterationSetup]
    public void Pause() => Thread.Sleep(PauseMs);

    [GlobalCleanup]
    public async Task Cleanup()
    {
        if (_cluster is null)
        {
            return;
        }
        try
        {
            // Still the cluster described at the end of the run (idle activations are collected after 15 minutes, not during a run)?
            ClusterStacks stacks = await _stacks.GetClusterStacksAsync().WaitAsync(TimeSpan.FromSeconds(30));
            Console.WriteLine($"// at the end: {stacks.Silos.Sum(static s => s.ActivationCount)} activations, "
                + $"{stacks.Stuck.Count(static c => c.Request.Grain.StartsWith(HeldPrefix, StringComparison.Ordinal))} held requests; "
                + $"since the warm-up, {_reads.Count(static r => r.AllStacks)} of {_reads.Count} stack reads had all {Busy} held requests' stacks "
                + $"(median {Median(true)}), the others {Median(false)}");
        }
        catch (Exception e)
        {
            Console.WriteLine($"// at the end: no read ({e.GetType().Name}: {e.Message.Split('\n')[0]})"); // the processes go below whatever happened
        }
        finally
        {
            foreach (Task<string> call in _held)
            {
                _ = call.ContinueWith(static t => t.Exception, TaskScheduler.Default); // they end with the client host: their faults observed
            }
            await _cluster.DisposeAsync();
            _cluster = null;
        }
    }

    [Benchmark(Baseline = true, Description = "GetDetailedGrainStatistics(), Orleans")]
    public async Task<DetailedGrainStatistic[]> DetailedStatistics()
    {
        DetailedGrainStatistic[] statistics = await _management.GetDetailedGrainStatistics();
        return statistics.Length >= Activations + Busy
            ? statistics
            : throw new InvalidOperationException($"GetDetailedGrainStatistics listed {statistics.Length} activations, fewer than {Activations + Busy}");
    }

    [Benchmark(Description = "GetClusterStacksAsync(), 50 stacks")]
    public async Task<ClusterStacks> ReadClusterStacks()
    {
        long start = Stopwatch.GetTimestamp();
        ClusterStacks stacks = await _stacks.GetClusterStacksAsync();
        _reads.Add((Stopwatch.GetElapsedTime(start).TotalMilliseconds, HeldWithStacks(stacks) == Busy));
        return stacks.Silos.Count == Silos && stacks.Silos.All(static s => s.Answered) && stacks.Stuck.Count >= Busy
            ? stacks
            : throw new InvalidOperationException($"expected {Silos} silos answering and {Busy} stuck requests:\n{stacks}");
    }
}
