using System.Diagnostics;
using Xunit.Abstractions;

namespace Stackscope.Akka.ClusterTests;

/// <summary>
/// Asks across the nodes' processes, dumped asynchronously from one node: each remote Ask continues into the actor holding
/// its request on its node, an Ask cycle across nodes is a deadlock, and a node that does not answer is named within the bound.
/// </summary>
public sealed class AcrossNodesTests(AkkaCluster cluster, ITestOutputHelper output) : ClusterTest(cluster, output)
{
    private static readonly TimeSpan AskBound = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_3_hop_Ask_chain_continues_into_each_remote_handler_with_its_await_lines_and_a_queued_request_says_its_position()
    {
        NodeProcess node1 = Nodes[0], node2 = Nodes[1], node3 = Nodes[2];
        string a = await node1.SpawnAsync("chain-a", "relay");
        string b = await node2.SpawnAsync("chain-b", "relay");
        string c = await node3.SpawnAsync("chain-c", "stuck");
        Task<string> answer = node1.Ask("chain", [a, b, c], AskBound);
        await node1.Entered("chain-a");
        await node2.Entered("chain-b");
        await node3.Entered("chain-c");

        string dump = await node1.DumpAsync("async", "busy");
        Output.WriteLine(dump);
        string relayHandler = $"Actors.cs:line {AkkaCluster.Line("relay-handler")}", relayAsk = $"Actors.cs:line {AkkaCluster.Line("relay-ask")}";
        string stuckAwait = $"Actors.cs:line {AkkaCluster.Line("stuck-await")}";
        // A's stack, from its handler on node-1 to C's gate on node-3: every hop's frames with their await lines, each
        // remote actor named with its node's address.
        string stackOfA = dump[dump.IndexOf("/user/chain-a [Relay] BUSY", StringComparison.Ordinal)..];
        AssertInOrder(stackOfA,
            relayHandler, relayAsk,
            $"Ask Call → {b}, processing it (Relay awaiting in its handler of Call)",
            relayHandler, relayAsk,
            $"Ask Call → {c}, processing it (Stuck awaiting in its handler of Call)",
            stuckAwait,
            "TaskCompletionSource");
        Assert.DoesNotContain("DEADLOCK", dump);

        // A second Ask to C (from node-1) waits in C's mailbox on node-3, behind the Call C is processing.
        string q = await node1.SpawnAsync("queue-a", "relay");
        Task<string> queued = node1.Ask("queued", [q, c], AskBound);
        await node1.Entered("queue-a");
        await node3.DumpUntilAsync(static d => d.Contains("mailbox: 1 queued: Call", StringComparison.Ordinal), "the second Call in C's mailbox");
        string second = await node1.DumpAsync("async", "busy");
        Output.WriteLine(second);
        AssertInOrder(second[second.IndexOf("/user/queue-a [Relay] BUSY", StringComparison.Ordinal)..],
            relayAsk, $"Ask Call → {c}: queued at position 1 of 1 in its mailbox, behind Call it is processing", stuckAwait);

        node3.Release("chain-c");
        Assert.Equal("released from chain-c via chain-b via chain-a", await answer);
        node3.Release("chain-c");
        Assert.Equal("released from chain-c via queue-a", await queued);
    }

    [Fact]
    public async Task A_whole_cluster_dump_taken_on_a_third_node_groups_busy_actors_by_node_and_reports_an_Ask_cycle_across_nodes()
    {
        NodeProcess node1 = Nodes[0], node2 = Nodes[1], node3 = Nodes[2];
        string a = await node1.SpawnAsync("ring-a", "relay");
        string b = await node2.SpawnAsync("ring-b", "relay");
        Task<string> cycle = node1.Ask("ring", [a, b, a], AskBound);
        await node1.Entered("ring-a");
        await node2.Entered("ring-b");
        await node1.DumpUntilAsync(static d => d.Contains("mailbox: 1 queued: Call", StringComparison.Ordinal), "B's Ask in A's mailbox");

        string dump = await node3.DumpAsync("async", "cluster");
        Output.WriteLine(dump);
        Assert.StartsWith($"Cluster of 3 nodes read from {node3.Address}: ", dump);
        Assert.Contains(", 1 deadlock", dump.Split('\n')[0]);
        string deadlock = Assert.Single(dump.Split('\n'), static l => l.StartsWith("DEADLOCK (Ask cycle): ", StringComparison.Ordinal));
        // From its ordinally first actor, whichever node's edges came first.
        Assert.Equal(string.CompareOrdinal(a, b) < 0 ? $"DEADLOCK (Ask cycle): {a} → {b} → {a}" : $"DEADLOCK (Ask cycle): {b} → {a} → {b}", deadlock);
        // Nodes: this one first, then the others in address order, each with its busy actors by their paths on it.
        int self = dump.IndexOf($"Node {node3.Address} (this node, Up): ", StringComparison.Ordinal);
        int first = dump.IndexOf($"Node {node1.Address} (Up): ", StringComparison.Ordinal);
        int second = dump.IndexOf($"Node {node2.Address} (Up): ", StringComparison.Ordinal);
        Assert.True(self > 0 && first > 0 && second > 0, "every node is listed with its busy count");
        // B's stack on node-2: its Ask waits in A's mailbox behind the Call A is processing, whose Ask B holds: the cycle closes.
        string ofB = dump[dump.IndexOf("  /user/ring-b [Relay] BUSY", StringComparison.Ordinal)..];
        AssertInOrder(ofB,
            $"Actors.cs:line {AkkaCluster.Line("relay-ask")}",
            $"Ask Call → {a}: queued at position 1 of 1 in its mailbox, behind Call it is processing",
            $"Actors.cs:line {AkkaCluster.Line("relay-ask")}",
            $"Ask Call → {b}, processing it (Relay awaiting in its handler of Call): DEADLOCK, that actor is higher up this chain, waiting for this Ask (an Ask cycle across nodes)");
        // B's request came from A on node-1: named by the node that asked, not only as the Ask's temporary actor.
        Assert.Contains($"    from {a} (its Ask {node1.Address}/temp/", ofB);

        // Synchronously, never a wait for other nodes: the option is named as not read there.
        string sync = await node3.DumpAsync("cluster");
        Assert.StartsWith($"Actor system \"stackscope\": ", sync);
        Assert.Contains("error: WholeCluster is read by CaptureLogicalStacksAsync and DumpLogicalStacksAsync: a synchronous dump never waits for other nodes", sync);

        node2.Abandon("ring-b");
        Assert.Equal("abandoned at ring-b via ring-a", await cycle);
    }

    [Fact]
    public async Task A_frozen_node_then_a_killed_node_is_named_with_why_and_the_dump_never_waits_past_its_bound()
    {
        NodeProcess node1 = Nodes[0], node2 = Nodes[1], node3 = Nodes[2];
        string a = await node1.SpawnAsync("far-a", "relay");
        string c = await node3.SpawnAsync("far-c", "stuck");
        Task<string> answer = node1.Ask("far", [a, c], AskBound);
        await node1.Entered("far-a");
        await node3.Entered("far-c");

        // Frozen (SIGSTOP): it cannot answer. The dump waits for it 3 s at most, and names it.
        node3.Freeze();
        try
        {
            (string dump, TimeSpan took) = await node1.TimedDumpAsync("async", "cluster", "bound", "3000");
            Output.WriteLine($"took {took.TotalMilliseconds:F0} ms\n{dump}");
            Assert.InRange(took, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(5));
            Assert.Contains($"Node {node3.Address} (Up", dump);
            Assert.Contains("): NO ANSWER: did not answer within 3.0 s", dump);
            Assert.Contains($"Node {node2.Address} (Up): ", dump);
            // A's Ask: no node that answered holds its request, and the one that did not is named.
            Assert.Contains($"Ask → a remote actor: the request went over Akka.Remote", dump);
            Assert.Contains($"not answered: {node3.Address}: did not answer within", dump);
        }
        finally
        {
            node3.Thaw();
        }

        // Killed: until the others remove it, it is a member that does not answer.
        node3.Kill();
        (string afterKill, TimeSpan killedTook) = await node1.TimedDumpAsync("async", "cluster", "bound", "3000");
        Output.WriteLine($"took {killedTook.TotalMilliseconds:F0} ms\n{afterKill}");
        Assert.True(killedTook < TimeSpan.FromSeconds(5), $"took {killedTook}");
        Assert.Contains($"Node {node3.Address} (", afterKill);
        Assert.Contains("NO ANSWER: ", afterKill);
        await Cluster.WaitUntilRemovedAsync(node3);
        string removed = await node1.DumpAsync("async", "cluster", "bound", "3000");
        Output.WriteLine(removed);
        Assert.StartsWith($"Cluster of 2 nodes read from {node1.Address}", removed);
        Assert.DoesNotContain(node3.Address, removed.Split('\n').Where(static l => l.StartsWith("Node ", StringComparison.Ordinal)));
        node1.Abandon("far-a");
        Assert.Equal("abandoned at far-a", await answer);

        await Cluster.ReplaceAsync(node3); // whole again for the next test
    }

    [Fact]
    public async Task A_member_without_Stackscope_is_named_at_once_not_waited_for()
    {
        NodeProcess node1 = Nodes[0];
        NodeProcess plain = await Cluster.JoinExtraAsync("node-plain", stackscope: false);
        try
        {
            string a = await node1.SpawnAsync("plain-a", "relay");
            string c = await plain.SpawnAsync("plain-c", "stuck");
            Task<string> answer = node1.Ask("plain", [a, c], AskBound);
            await node1.Entered("plain-a");
            await plain.Entered("plain-c");

            // The default bound is 5 s: a node without Stackscope answers Identify with no actor, so it is not waited for.
            (string dump, TimeSpan took) = await node1.TimedDumpAsync("async", "cluster");
            Output.WriteLine($"took {took.TotalMilliseconds:F0} ms\n{dump}");
            Assert.True(took < TimeSpan.FromSeconds(3), $"took {took}");
            const string why = "has no Stackscope (actorSystem.UseStackscope() was not called there)";
            Assert.Contains($"Node {plain.Address} (Up): NO ANSWER: {why}", dump);
            // "(…/endpointManager took it)" follows "Akka.Remote" while the endpoint manager's last sender is still the Ask: timing.
            Assert.Contains("Ask → a remote actor: the request went over Akka.Remote", dump);
            Assert.Contains($"; no node that answered holds its request; not answered: {plain.Address}: {why}", dump);
            Assert.StartsWith($"Cluster of 4 nodes read from {node1.Address}: ", dump);

            plain.Release("plain-c");
            Assert.Equal("released from plain-c via plain-a", await answer);
        }
        finally
        {
            await Cluster.LeaveAsync(plain);
        }
    }

    [Fact]
    public async Task The_readme_AskOrDump_helper_run_in_a_node_fails_with_the_whole_cluster_and_the_remote_handler_it_waits_for()
    {
        NodeProcess node1 = Nodes[0], node2 = Nodes[1];
        string a = await node1.SpawnAsync("helper-a", "relay");
        string b = await node2.SpawnAsync("helper-b", "stuck");
        node1.Send($"ask-or-dump helper 2000 {a} {b}");
        await node1.WaitForLineAsync(static l => l == "askdumped helper", what: "the helper's failure");
        string failure = string.Join("\n", node1.Output.Split('\n').Where(static l => l.StartsWith("askdump helper: ", StringComparison.Ordinal))
            .Select(static l => l["askdump helper: ".Length..]));
        Output.WriteLine(failure);
        AssertInOrder(failure,
            "no reply from akka://stackscope/user/helper-a within 00:00:02:",
            $"Cluster of 3 nodes read from {node1.Address}: ",
            $"Node {node1.Address} (this node, Up): ",
            "/user/helper-a [Relay] BUSY",
            $"Ask Call → {b}, processing it (Stuck awaiting in its handler of Call)",
            $"Actors.cs:line {AkkaCluster.Line("stuck-await")}",
            $"Node {node2.Address} (Up): ",
            "/user/helper-b [Stuck] BUSY");
        node2.Release("helper-b");
    }

    /// <summary>Asserts that <paramref name="parts"/> occur in <paramref name="text"/> in this order.</summary>
    private static void AssertInOrder(string text, params string[] parts)
    {
        int at = 0;
        foreach (string part in parts)
        {
            int found = text.IndexOf(part, at, StringComparison.Ordinal);
            Assert.True(found >= 0, $"'{part}' not found after position {at} in:\n{text}");
            at = found + part.Length;
        }
    }
}
