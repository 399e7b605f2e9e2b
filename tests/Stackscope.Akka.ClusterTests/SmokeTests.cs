using System.Diagnostics;
using Xunit.Abstractions;

namespace Stackscope.Akka.ClusterTests;

/// <summary>The multi-process cluster itself: it forms, Asks cross its processes, an Ask cycle can be broken, and a killed node leaves it.</summary>
public sealed class SmokeTests(AkkaCluster cluster, ITestOutputHelper output) : ClusterTest(cluster, output)
{
    private static readonly TimeSpan AskBound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Three_node_processes_form_a_cluster_an_Ask_chain_crosses_them_and_a_killed_node_leaves_it()
    {
        Output.WriteLine($"the cluster started in {Cluster.StartupTime.TotalSeconds:F1} s");
        NodeProcess node1 = Nodes[0], node2 = Nodes[1], node3 = Nodes[2];

        // Three processes, three addresses on 127.0.0.1, each node seeing all three Up.
        Assert.Equal(3, Nodes.Select(static n => n.Id).Distinct().Count());
        Assert.Equal(3, Nodes.Select(static n => n.Address).Distinct().Count());
        Assert.All(Nodes, static n => Assert.StartsWith("akka.tcp://stackscope@127.0.0.1:", n.Address));
        foreach (NodeProcess node in Nodes)
        {
            foreach (NodeProcess member in Nodes)
            {
                await node.WaitForUpAsync(member, TimeSpan.Zero);
            }
        }

        // node-1 → relay on node-1 → relay on node-2 → stuck actor on node-3, each seen suspended from its own process.
        string a = await node1.SpawnAsync("smoke-a", "relay");
        string b = await node2.SpawnAsync("smoke-b", "relay");
        string c = await node3.SpawnAsync("smoke-c", "stuck");
        Assert.Equal(node2.PathOf("smoke-b"), b);
        Task<string> answer = node1.Ask("smoke-chain", [a, b, c], AskBound);
        await node1.Entered("smoke-a");
        await node2.Entered("smoke-b");
        await node3.Entered("smoke-c");
        Assert.False(answer.IsCompleted);

        // Each node's own Stackscope dump shows its part of the chain.
        string dump2 = await node2.DumpAsync();
        Output.WriteLine(dump2);
        Assert.Contains("smoke-b [Relay] BUSY", dump2);
        Assert.Contains($"Actors.cs:line {AkkaCluster.Line("relay-ask")}", dump2);
        node3.Release("smoke-c");
        Assert.Equal("released from smoke-c via smoke-b via smoke-a", await answer);

        // An Ask cycle across two nodes: A (node-1) asks B (node-2), which asks A back; B's Ask waits in A's mailbox.
        string cycleA = await node1.SpawnAsync("cycle-a", "relay");
        string cycleB = await node2.SpawnAsync("cycle-b", "relay");
        Task<string> cycle = node1.Ask("smoke-cycle", [cycleA, cycleB, cycleA], AskBound);
        await node1.Entered("cycle-a");
        await node2.Entered("cycle-b");
        string dump1 = await node1.DumpUntilAsync(static d => d.Contains("mailbox: 1 queued: Call", StringComparison.Ordinal), "B's Ask in A's mailbox");
        Output.WriteLine(dump1);
        Assert.Contains("cycle-a [Relay] BUSY", dump1);
        Assert.False(cycle.IsCompleted);
        node2.Abandon("cycle-b"); // B gives up: A gets B's answer, then serves B's Ask (answered to no one)
        Assert.Equal("abandoned at cycle-b via cycle-a", await cycle);

        // A node killed: the others find it unreachable, down it and remove it (bounded).
        var clock = Stopwatch.StartNew();
        node3.Kill();
        await Cluster.WaitUntilRemovedAsync(node3);
        Output.WriteLine($"{node3.Name} killed: removed by the others after {clock.Elapsed.TotalSeconds:F1} s");
        await node1.WaitForMembersAsync(2, TimeSpan.Zero);

        // The cluster made whole again for the next test: a new node-3 process.
        clock.Restart();
        NodeProcess fresh = await Cluster.ReplaceAsync(node3);
        Output.WriteLine($"{fresh.Name} replaced (process {fresh.Id}, {fresh.Address}) in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.NotEqual(node3.Address, fresh.Address);
        Assert.Equal("end", await fresh.Ask("smoke-fresh", [await fresh.SpawnAsync("fresh-a", "relay")], AskBound));
    }
}
