using System.Diagnostics;
using System.Reflection;
using Akka.Actor;
using Akka.Cluster;
using BenchmarkDotNet.Attributes;
using Stackscope.Akka;
using Stackscope.Tests;

namespace Stackscope.Akka.Benchmarks;

/// <summary>
/// The cluster-wide dump against the single node's on a real three-node Akka.Cluster on 127.0.0.1: node-1 is an actor
/// system in the benchmark's process (the one the dumps are taken on), node-2 and node-3 are this program again in OS
/// processes of their own (<see cref="NodeRole"/>), ended by their process ids. Each node has its own actors as
/// <see cref="DumpBenchmarks"/>' system: 99 pools of 100 idle children and 100 actors suspended in async handlers
/// (10,000 actors a node, 30,000 in all, 300 busy). <c>Dump_single_node</c> is <c>CaptureLogicalStacksAsync()</c> on
/// node-1 with the default options (node-1's actors only); <c>Dump_whole_cluster</c> is the same with
/// <c>WholeCluster = true</c>: node-1 asks node-2 and node-3 over Akka.Remote for their busy actors (each scans its own
/// actors, in parallel with node-1's own scan) and joins the answers. BenchmarkDotNet runs each case in a process of its
/// own, so each case starts its own cluster.
/// </summary>
[MemoryDiagnoser]
public class ClusterDumpBenchmarks
{
    private const int Nodes = 3;
    private static readonly TimeSpan WarmUpTime = TimeSpan.FromSeconds(30);
    private static readonly ActorDumpOptions s_whole = new() { WholeCluster = true, RemoteBound = TimeSpan.FromSeconds(5) };

    private ActorSystem? _system;
    private TaskCompletionSource<string> _release = null!;
    private readonly List<LineProcess> _others = [];
    private int _dumps;
    private int _incomplete; // whole-cluster dumps in which a node did not answer or had not its 100 busy actors
    private string? _firstIncomplete;

    [GlobalSetup]
    public async Task Setup()
    {
        try
        {
            await StartAsync();
        }
        catch (Exception)
        {
            Cleanup(); // BenchmarkDotNet does not clean up after a failed set-up: the node processes go here
            throw;
        }
    }

    private async Task StartAsync()
    {
        var clock = Stopwatch.StartNew();
        _release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        _system = BenchNode.Create(0);
        Address self = Cluster.Get(_system).SelfAddress;
        if (self.Host != "127.0.0.1")
        {
            throw new InvalidOperationException($"node-1 listens on {self}, not 127.0.0.1");
        }

        // The other two nodes start (and build their actors) while this one builds its own.
        string entry = Assembly.GetEntryAssembly()!.Location;
        for (int i = 2; i <= Nodes; i++)
        {
            // This assembly, with the runtime config and dependencies of the entry assembly: in BenchmarkDotNet's child
            // process that is the generated program, beside which this assembly is copied (as the Orleans benchmarks do).
            string[] args =
            [
                Path.ChangeExtension(entry, ".runtimeconfig.json"), "--depsfile", Path.ChangeExtension(entry, ".deps.json"),
                typeof(NodeRole).Assembly.Location, "--node-role", "--name", $"node-{i}", "--seed", self.ToString(),
            ];
            _others.Add(LineProcess.Start($"node-{i}", "--runtimeconfig", args));
        }
        BenchNode.Populate(_system, _release.Task);
        await BenchNode.JoinAsync(_system, self);
        string[] ready = await Task.WhenAll(_others.Select(static p => p.WaitForLineAsync(static l => l.StartsWith("ready ", StringComparison.Ordinal), BenchNode.Bound, "its ready line")));
        foreach (string line in ready)
        {
            if (!line.StartsWith("ready akka.tcp://" + BenchNode.SystemName + "@127.0.0.1:", StringComparison.Ordinal))
            {
                throw new InvalidOperationException("a node not on 127.0.0.1: " + line);
            }
        }

        // Up as node-1 sees it: three members Up (bounded).
        Cluster cluster = Cluster.Get(_system);
        while (cluster.State.Members.Count(static m => m.Status == MemberStatus.Up) < Nodes || cluster.State.Unreachable.Count > 0)
        {
            if (clock.Elapsed > BenchNode.Bound)
            {
                throw new TimeoutException($"node-1 does not see {Nodes} members Up within {BenchNode.Bound}: {string.Join(", ", cluster.State.Members)}\n{Output()}");
            }
            await Task.Delay(100);
        }
        Console.WriteLine($"// cluster of {Nodes} nodes Up in {clock.Elapsed.TotalSeconds:F1} s: node-1 {self} (this process {Environment.ProcessId}), "
            + string.Join(", ", _others.Zip(ready).Select(static p => $"{p.First.Name} process {p.First.Id} ({p.Second})")));

        // A broken set-up must not report numbers: node-1's own dump has its 100 busy actors with stacks; the whole-cluster
        // dump has three nodes answering, each with 10,000 actors and more and its 100 busy ones with stacks.
        ActorSystemDump single = await Dump_single_node();
        int singleBusy = single.BusyActors.Count(static a => IsBusyActor(a.Path) && a.Stack is not null);
        ActorSystemDump whole = await _system.CaptureLogicalStacksAsync(s_whole);
        if (singleBusy != BenchNode.BusyCount || single.Root.SubtreeCount < BenchNode.Pools * BenchNode.PoolSize + BenchNode.BusyCount || Missing(whole) is { } missing)
        {
            throw new InvalidOperationException($"not the cluster described: node-1 alone {singleBusy} busy with stacks of {single.Root.SubtreeCount}; "
                + $"whole cluster: {Missing(whole)}\n{whole}\n{Output()}");
        }
        Console.WriteLine("// whole-cluster dump: " + string.Join("; ", whole.Nodes.Select(static n => n.ToString()))
            + $"; {whole.Errors.Count} errors, {whole.Deadlocks.Count} deadlocks, text {whole.ToString().Length:N0} chars (single node: {single.ToString().Length:N0})");
        Console.WriteLine($"// warm-up: {await WarmUp()}");
        _dumps = 0;
        _incomplete = 0;
    }

    private static bool IsBusyActor(string path) => path.Contains("/user/busy-", StringComparison.Ordinal);

    /// <summary>Null when every node answered with its actors and its 100 busy actors with stacks; else what is missing.</summary>
    private static string? Missing(ActorSystemDump whole)
    {
        if (whole.Nodes.Count != Nodes)
        {
            return $"{whole.Nodes.Count} nodes, not {Nodes}";
        }
        foreach (ActorNodeDump node in whole.Nodes)
        {
            int busy = node.BusyActors.Count(static a => IsBusyActor(a.Path) && a.Stack is not null);
            if (!node.Answered || node.ActorCount < BenchNode.Pools * BenchNode.PoolSize + BenchNode.BusyCount || busy != BenchNode.BusyCount)
            {
                return $"{node} ({busy} busy with stacks)";
            }
        }
        return null;
    }

    /// <summary>
    /// Both dumps, alternately, for <see cref="WarmUpTime"/> before BenchmarkDotNet's own warm-up, which warms this
    /// process only: the other nodes' answering code is compiled tier by tier on their first requests. Returns the
    /// mean time of each by 5-second window, for the log.
    /// </summary>
    private async Task<string> WarmUp()
    {
        var windows = new List<string>();
        var total = Stopwatch.StartNew();
        while (total.Elapsed < WarmUpTime)
        {
            var single = new Stopwatch();
            var whole = new Stopwatch();
            int rounds = 0;
            for (var window = Stopwatch.StartNew(); window.Elapsed < TimeSpan.FromSeconds(5); rounds++)
            {
                single.Start();
                await Dump_single_node();
                single.Stop();
                whole.Start();
                await Dump_whole_cluster();
                whole.Stop();
            }
            windows.Add($"{single.Elapsed.TotalMilliseconds / rounds:F1}/{whole.Elapsed.TotalMilliseconds / rounds:F1}");
        }
        return $"ms per dump, single/whole cluster, by 5 s window: {string.Join(", ", windows)}; incomplete whole-cluster dumps {_incomplete} of {_dumps}";
    }

    private string Output() => string.Join("\n", _others.Select(static p => p.Output));

    [GlobalCleanup]
    public void Cleanup()
    {
        Console.WriteLine($"// at the end: {_incomplete} of {_dumps} whole-cluster dumps since the warm-up had a node missing or short"
            + (_firstIncomplete is null ? "" : $" (the first: {_firstIncomplete})"));
        _release?.TrySetResult("done");
        // Each other node asked to stop (it leaves the cluster), ended by its process id 10 s later at most, in parallel.
        Task.WhenAll(_others.Select(static p => Task.Run(() =>
        {
            p.Stop("stop", TimeSpan.FromSeconds(10));
            p.Dispose();
        }))).Wait(TimeSpan.FromSeconds(60));
        foreach (LineProcess p in _others)
        {
            p.Dispose(); // ended by its id if the bounded wait above gave up
            string[] lines = p.Output.Split('\n');
            string[] warnings = lines.Where(static l => l.Contains("[WARNING]", StringComparison.Ordinal) || l.Contains("[ERROR]", StringComparison.Ordinal)).ToArray();
            Console.WriteLine($"// {lines[0]}; stderr lines: {lines.Count(static l => l.StartsWith("stderr: ", StringComparison.Ordinal))}, "
                + $"Akka warnings and errors (its stdout): {warnings.Length}");
            foreach (string warning in warnings.Take(3))
            {
                Console.WriteLine("//   " + (warning.Length > 300 ? warning[..300] + "…" : warning));
            }
        }
        _others.Clear();
        if (_system is not null)
        {
            CoordinatedShutdown.Get(_system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance).Wait(TimeSpan.FromSeconds(20));
            _system.Terminate().Wait(TimeSpan.FromSeconds(10));
            _system = null;
        }
    }

    [Benchmark(Baseline = true, Description = "Dump_single_node: CaptureLogicalStacksAsync()")]
    public Task<ActorSystemDump> Dump_single_node() => _system!.CaptureLogicalStacksAsync();

    [Benchmark(Description = "Dump_whole_cluster: WholeCluster = true, 3 nodes")]
    public async Task<ActorSystemDump> Dump_whole_cluster()
    {
        ActorSystemDump dump = await _system!.CaptureLogicalStacksAsync(s_whole);
        _dumps++;
        // Cheap (three nodes): a whole-cluster dump without all three nodes' answers is counted, and reported at the end.
        if (dump.Nodes.Count != Nodes || dump.Nodes.Any(static n => !n.Answered || n.BusyActors.Count < BenchNode.BusyCount))
        {
            _incomplete++;
            _firstIncomplete ??= string.Join("; ", dump.Nodes.Select(static n => n.ToString()));
        }
        return dump;
    }
}
