using System.Diagnostics;
using Orleans.Runtime;
using Stackscope.Orleans.Silo;
using Xunit.Abstractions;

namespace Stackscope.Orleans.ClusterTests;

/// <summary>The multi-process cluster itself: it forms, calls cross its processes, and a killed silo leaves it.</summary>
public sealed class SmokeTests(OrleansCluster cluster, ITestOutputHelper output) : ClusterTest(cluster, output)
{
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Three_silo_processes_form_a_cluster_a_call_chain_crosses_them_and_a_killed_silo_leaves_it()
    {
        Output.WriteLine($"the cluster started in {Cluster.StartupTime.TotalSeconds:F1} s");
        SiloProcess silo1 = Silos[0], silo2 = Silos[1], silo3 = Silos[2];

        // Three active silos, seen from the client: the addresses the processes printed, all on 127.0.0.1.
        Dictionary<SiloAddress, SiloStatus> hosts = await Cluster.HostsAsync();
        Assert.Equal(Silos.Select(static s => s.Address).OrderBy(static a => a.ToString()), hosts.Keys.OrderBy(static a => a.ToString()));
        Assert.All(hosts.Keys, static a => Assert.Equal("127.0.0.1", a.Endpoint.Address.ToString()));
        Assert.Equal(3, Silos.Select(static s => s.Id).Distinct().Count());

        // client → relay on silo-1 → relay on silo-2 → stuck grain on silo-3, each seen suspended from its own process.
        Task<string> call = Cluster.OnSilo(silo1, c => c.GetGrain<IRelayGrain>("smoke-a").Call(["smoke-b", "stuck-smoke-c"], [silo2.Address, silo3.Address]));
        await silo1.Entered("smoke-a");
        await silo2.Entered("smoke-b");
        await silo3.Entered("stuck-smoke-c");
        Assert.False(call.IsCompleted);

        // Stackscope, in this client-only process, sees the chain across the three silos.
        string stacks = (await Cluster.Stacks.GetClusterStacksAsync().WaitAsync(CallBound)).ToString();
        Output.WriteLine(stacks);
        foreach (string text in new[] { "relay/smoke-a", "relay/smoke-b", "stuck/stuck-smoke-c", silo1.Name, silo2.Name, silo3.Name })
        {
            Assert.Contains(text, stacks);
        }
        silo3.Release("stuck-smoke-c");
        Assert.Equal("released from stuck-smoke-c via smoke-b via smoke-a", await call.WaitAsync(CallBound));

        // A silo killed: the others declare it dead, and the client sees it leave the active silos (bounded).
        var clock = Stopwatch.StartNew();
        silo3.Kill();
        string seen = await Cluster.WaitUntilNotActiveAsync(silo3);
        Output.WriteLine($"{silo3.Name} killed: gone from the active silos after {clock.Elapsed.TotalSeconds:F1} s; seen:\n{seen}");
        Assert.Equal(2, (await Cluster.HostsAsync()).Count);
        Assert.Equal(SiloStatus.Dead, (await Cluster.HostsAsync(onlyActive: false))[silo3.Address]);

        // The cluster made whole again for the next test: a new silo-3 process.
        clock.Restart();
        SiloProcess fresh = await Cluster.ReplaceAsync(silo3);
        Output.WriteLine($"{fresh.Name} replaced (process {fresh.Id}, {fresh.Address}) in {clock.Elapsed.TotalSeconds:F1} s");
        Assert.Equal(3, (await Cluster.HostsAsync()).Count);
    }

    [Fact]
    public async Task Calls_return_at_once_and_idle_activations_stay_on_their_silo()
    {
        Assert.Equal(42, await Cluster.Client.GetGrain<IPingGrain>(1).Ping(42).WaitAsync(CallBound));
        SiloProcess silo3 = Silos[2];
        int idle = await Cluster.OnSilo(silo3, c => c.GetGrain<IIdleSpawnerGrain>("spawner-3").Spawn("idle-3", 200)).WaitAsync(CallBound);
        Assert.Equal(200, idle);
        Assert.Equal(silo3.Address, await Cluster.Client.GetGrain<IIdleGrain>("idle-3-7").Touch().WaitAsync(CallBound));
    }
}
