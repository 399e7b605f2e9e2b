using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Stackscope.Akka.Node;
using Stackscope.Tests;
using Xunit.Abstractions;

namespace Stackscope.Akka.ClusterTests;

/// <summary>
/// One Akka.NET actor system in its own OS process (tests/Stackscope.Akka.Node), a member of the test cluster (Akka.Cluster
/// over Akka.Remote, 127.0.0.1), ended by its process id. Its actors say "entered &lt;key&gt;" on stdout when suspended at a
/// gate (the key is the actor's name); the test releases them with a line on stdin. It prints the membership as it sees
/// it ("up", "unreachable", "downed", "removed &lt;address&gt;", "members &lt;n&gt;"). Every wait is bounded and fails with what the
/// process printed. A node the others have downed (frozen with <see cref="GatedProcess.Freeze"/> for more than about 7 s,
/// then thawed) shuts its actor system down, prints "terminated" and exits: put a new one in its place (<see cref="AkkaCluster.ReplaceAsync"/>).
/// </summary>
public sealed class NodeProcess : GatedProcess
{
    private int _requests;

    private NodeProcess(string name, int port, LineProcess process) : base(name, process)
    {
        Address = AddressOf(port);
    }

    /// <summary>Its address in the cluster: <c>akka.tcp://stackscope@127.0.0.1:&lt;port&gt;</c> (a port chosen free for it).</summary>
    public string Address { get; }

    /// <summary>The address of a node of the test cluster listening on <paramref name="port"/>.</summary>
    public static string AddressOf(int port) => $"akka.tcp://{NodeSettings.SystemName}@127.0.0.1:{port}";

    /// <summary>The full path of the actor <c>/user/<paramref name="actor"/></c> of this node, as another node addresses it.</summary>
    public string PathOf(string actor) => $"{Address}/user/{actor}";

    /// <summary>
    /// Starts a node process listening on <paramref name="port"/> that joins the members at <paramref name="seeds"/> (a node
    /// whose own address is the first seed starts the cluster); <see cref="WaitReadyAsync"/> waits for it to be Up.
    /// </summary>
    public static NodeProcess Start(string name, int port, IEnumerable<string> seeds, bool stackscope = true)
    {
        string dll = LineProcess.BuildOutputOf("Stackscope.Akka.ClusterTests", "Stackscope.Akka.Node");
        var args = new List<string> { "--name", name, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        foreach (string seed in seeds)
        {
            args.Add("--seed");
            args.Add(seed);
        }
        if (!stackscope)
        {
            args.Add("--no-stackscope");
        }
        return new NodeProcess(name, port, LineProcess.Start(name, dll, args));
    }

    /// <summary>Waits (bounded) for its "ready &lt;address&gt;" line: the node has joined the cluster and is Up.</summary>
    public Task WaitReadyAsync() =>
        Lines.WaitForLineAsync(l => l == "ready " + Address, Bound, "its ready line");

    /// <summary>Waits (bounded) until this node has seen <paramref name="count"/> members Up (its "members &lt;n&gt;" line, printed at every change; one printed before counts).</summary>
    public Task WaitForMembersAsync(int count, TimeSpan? timeout = null) =>
        Lines.WaitForLineAsync(l => l == $"members {count}", timeout ?? Bound, $"'members {count}'");

    /// <summary>Waits (bounded) until this node has seen <paramref name="node"/> removed from the cluster (downed and removed, or left).</summary>
    public Task WaitForRemovedAsync(NodeProcess node, TimeSpan? timeout = null) =>
        Lines.WaitForLineAsync(l => l == "removed " + node.Address, timeout ?? Bound, $"'removed {node.Address}' ({node.Name})");

    /// <summary>Waits (bounded) until this node has seen <paramref name="node"/> Up.</summary>
    public Task WaitForUpAsync(NodeProcess node, TimeSpan? timeout = null) =>
        Lines.WaitForLineAsync(l => l == "up " + node.Address, timeout ?? Bound, $"'up {node.Address}' ({node.Name})");

    /// <summary>
    /// Starts the actor <c>/user/<paramref name="actor"/></c> on this node: <paramref name="kind"/> "relay" (Asks along a
    /// path, <see cref="Relay"/>) or "stuck" (awaits its gate, <see cref="Stuck"/>); returns its full path. An actor name
    /// lives as long as the node: each test uses names of its own.
    /// </summary>
    public async Task<string> SpawnAsync(string actor, string kind)
    {
        Send($"spawn {actor} {kind}");
        string line = await Lines.WaitForLineAsync(l => l.StartsWith($"spawned {actor} ", StringComparison.Ordinal) || l.StartsWith($"failed spawn {actor} ", StringComparison.Ordinal),
            Bound, $"'spawned {actor}'");
        return line.StartsWith("spawned ", StringComparison.Ordinal)
            ? line[$"spawned {actor} ".Length..]
            : throw new InvalidOperationException($"{Name} could not spawn {actor}: {line}");
    }

    /// <summary>
    /// Asks, from this node (outside any actor), the actor at <c>path[0]</c> a <see cref="Call"/> of the rest of the path; the
    /// task completes with its answer (<paramref name="timeout"/>, <see cref="GatedProcess.Bound"/> by default, from now), and
    /// fails if the Ask fails. An actor that does not exist never answers (the Ask went to its node's dead letters): the
    /// wait fails at its bound. <paramref name="id"/> names the request in the output.
    /// </summary>
    public async Task<string> Ask(string id, string[] path, TimeSpan? timeout = null)
    {
        if (path.Length == 0 || id.Contains(' ', StringComparison.Ordinal))
        {
            throw new ArgumentException("a path of one actor at least, and an id without spaces");
        }
        Send($"ask {id} {string.Join(' ', path)}");
        string line = await Lines.WaitForLineAsync(l => l.StartsWith($"answer {id} ", StringComparison.Ordinal) || l.StartsWith($"failed {id} ", StringComparison.Ordinal),
            timeout ?? Bound, $"the answer to {id}");
        return line.StartsWith("answer ", StringComparison.Ordinal)
            ? line[$"answer {id} ".Length..]
            : throw new InvalidOperationException($"{Name}: the Ask {id} failed: {line}");
    }

    /// <summary>
    /// This node's Stackscope dump, taken in its process: <c>DumpLogicalStacks()</c>, or with <c>async</c>
    /// <c>DumpLogicalStacksAsync</c> (also <c>cluster</c>, <c>busy</c>, <c>bound &lt;ms&gt;</c>: see the node's Program.cs), bounded.
    /// </summary>
    public async Task<string> DumpAsync(params string[] flags) => (await TimedDumpAsync(flags)).Text;

    /// <summary><see cref="DumpAsync"/>, with how long the dump took in the node's process.</summary>
    public async Task<(string Text, TimeSpan Took)> TimedDumpAsync(params string[] flags)
    {
        string id = "d" + Interlocked.Increment(ref _requests);
        Send(string.Join(' ', ["dump", id, .. flags]));
        string done = await Lines.WaitForLineAsync(l => l.StartsWith($"dumped {id} ", StringComparison.Ordinal), Bound, $"'dumped {id}'");
        string prefix = $"dump {id}: ";
        string text = string.Join("\n", Output.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).Select(l => l[prefix.Length..])).TrimEnd();
        return (text, TimeSpan.FromMilliseconds(long.Parse(done[$"dumped {id} ".Length..], System.Globalization.CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// Takes this node's dump every 200 ms until one satisfies <paramref name="condition"/> (a message crossing the network
    /// has arrived, say), at most <paramref name="timeout"/> (<see cref="GatedProcess.Bound"/>); returns it, or fails with the last.
    /// </summary>
    public async Task<string> DumpUntilAsync(Func<string, bool> condition, string what, TimeSpan? timeout = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            string dump = await DumpAsync();
            if (condition(dump))
            {
                return dump;
            }
            if (clock.Elapsed >= (timeout ?? Bound))
            {
                throw new TimeoutException($"{Name}: no dump with {what} within {timeout ?? Bound}; the last:\n{dump}");
            }
            await Task.Delay(200);
        }
    }
}

/// <summary>
/// Three Akka.NET nodes (node-1, node-2, node-3), each its own OS process, joined into one Akka.Cluster on 127.0.0.1
/// (node-1 is the seed). The test process runs no actor system: it drives the nodes through their stdin. Shared by the
/// tests of the <see cref="AkkaClusterCollection"/>; a test that kills a node puts a new one in its place (<see cref="ReplaceAsync"/>).
/// </summary>
public sealed class AkkaCluster : IAsyncLifetime
{
    public const int NodeCount = 3;

    /// <summary>The bound of waits on the cluster's membership (a node joining, a killed node removed).</summary>
    public static readonly TimeSpan MembershipBound = TimeSpan.FromSeconds(45);

    private static readonly string s_actors = Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "..", "Stackscope.Akka.Node", "Actors.cs");

    private readonly NodeProcess?[] _nodes = new NodeProcess?[NodeCount];

    /// <summary>The nodes: <c>Nodes[0]</c> is node-1, and so on.</summary>
    public IReadOnlyList<NodeProcess> Nodes => _nodes.Select(static n => n!).ToArray();

    /// <summary>How long <see cref="InitializeAsync"/> took: the three processes started and all seeing three members Up.</summary>
    public TimeSpan StartupTime { get; private set; }

    public static string NodeName(int index) => $"node-{index + 1}";

    /// <summary>The line of the <c>// @<paramref name="marker"/></c> comment in tests/Stackscope.Akka.Node/Actors.cs.</summary>
    public static int Line(string marker) => SourceLines.Find(s_actors, marker);

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        try
        {
            int[] ports = FreePorts(NodeCount);
            string seed = NodeProcess.AddressOf(ports[0]);
            for (int i = 0; i < NodeCount; i++)
            {
                _nodes[i] = NodeProcess.Start(NodeName(i), ports[i], [seed]); // all at once: node-2 and node-3 retry until node-1 is up
            }
            await Task.WhenAll(_nodes.Select(static n => n!.WaitReadyAsync()));
            await Task.WhenAll(_nodes.Select(static n => n!.WaitForMembersAsync(NodeCount, MembershipBound)));
            StartupTime = clock.Elapsed;
        }
        catch (Exception e)
        {
            string output = string.Join("\n", _nodes.Where(static n => n is not null).Select(static n => n!.Output));
            await DisposeAsync();
            throw new InvalidOperationException($"the cluster did not start ({clock.Elapsed.TotalSeconds:F1} s): {e.GetType().Name}: {e.Message.Split('\n')[0]}\n{output}", e);
        }
    }

    public async Task DisposeAsync()
    {
        // In parallel: each asked to stop, ended by its id past the bound.
        await Task.WhenAll(_nodes.Where(static n => n is not null).Select(static n => Task.Run(n!.Dispose)));
        Array.Clear(_nodes);
    }

    /// <summary>The nodes still running other than <paramref name="node"/>.</summary>
    public IEnumerable<NodeProcess> Others(NodeProcess node) => Nodes.Where(n => n != node && !n.HasExited);

    /// <summary>Waits (bounded, <see cref="MembershipBound"/> by default) until every other running node has seen <paramref name="node"/> removed (killed, stopped or downed).</summary>
    public Task WaitUntilRemovedAsync(NodeProcess node, TimeSpan? timeout = null) =>
        Task.WhenAll(Others(node).Select(n => n.WaitForRemovedAsync(node, timeout ?? MembershipBound)));

    /// <summary>
    /// Puts a new node process in the place of <paramref name="node"/> (ended by its id if it still runs), with the same
    /// name, a new port (a new address), joining through the running nodes, and waits until every node has it Up.
    /// </summary>
    public async Task<NodeProcess> ReplaceAsync(NodeProcess node)
    {
        int index = Array.IndexOf(_nodes, node);
        if (index < 0)
        {
            throw new ArgumentException($"{node.Name} (process {node.Id}) is not one of this cluster's nodes", nameof(node));
        }
        node.Kill();
        node.Dispose();
        NodeProcess[] others = Others(node).ToArray();
        NodeProcess fresh = _nodes[index] = NodeProcess.Start(node.Name, FreePorts(1)[0], others.Select(static n => n.Address));
        await fresh.WaitReadyAsync();
        await Task.WhenAll(others.Select(n => n.WaitForUpAsync(fresh, MembershipBound)));
        return fresh;
    }

    /// <summary>
    /// Starts a node beyond the three (a new port, joining through them; <paramref name="stackscope"/>: whether it calls
    /// <c>UseStackscope()</c>) and waits until every node has it Up. The test ends it: <see cref="LeaveAsync"/>.
    /// </summary>
    public async Task<NodeProcess> JoinExtraAsync(string name, bool stackscope)
    {
        NodeProcess extra = NodeProcess.Start(name, FreePorts(1)[0], Nodes.Select(static n => n.Address), stackscope);
        try
        {
            await extra.WaitReadyAsync();
            await Task.WhenAll(Nodes.Select(n => n.WaitForUpAsync(extra, MembershipBound)));
            return extra;
        }
        catch
        {
            extra.Dispose();
            throw;
        }
    }

    /// <summary>Stops a node started by <see cref="JoinExtraAsync"/> (it leaves gracefully, or is ended by its id) and waits until the others have removed it.</summary>
    public async Task LeaveAsync(NodeProcess extra)
    {
        extra.Stop();
        extra.Dispose();
        await WaitUntilRemovedAsync(extra);
    }

    /// <summary>The node process at <paramref name="address"/>, or null.</summary>
    public NodeProcess? NodeAt(string address) => _nodes.FirstOrDefault(n => n?.Address == address);

    /// <summary>Ports of 127.0.0.1 free now, all different (held together while they are chosen).</summary>
    private static int[] FreePorts(int count)
    {
        var listeners = Enumerable.Range(0, count).Select(static _ => new TcpListener(IPAddress.Loopback, 0)).ToArray();
        try
        {
            foreach (TcpListener listener in listeners)
            {
                listener.Start();
            }
            return listeners.Select(static l => ((IPEndPoint)l.LocalEndpoint).Port).ToArray();
        }
        finally
        {
            foreach (TcpListener listener in listeners)
            {
                listener.Stop();
            }
        }
    }
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AkkaClusterCollection : ICollectionFixture<AkkaCluster>
{
    public const string Name = "akka-cluster";
}

/// <summary>
/// A test on the shared cluster: at its end every gate still held in any node is released and what each node printed
/// during the test is written to the test's output.
/// </summary>
[Collection(AkkaClusterCollection.Name)]
public abstract class ClusterTest(AkkaCluster cluster, ITestOutputHelper output) : GatedProcessTest(() => cluster.Nodes, output)
{
    protected AkkaCluster Cluster { get; } = cluster;

    protected IReadOnlyList<NodeProcess> Nodes => Cluster.Nodes;
}
