using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Stackscope.Glue;
using Stackscope.Orleans.Silo;
using Stackscope.Tests;
using Xunit.Abstractions;

namespace Stackscope.Orleans.ClusterTests;

/// <summary>
/// What Stackscope reads of a real cluster of three silo processes, from this process, which is only a cluster client:
/// call chains across the processes, a queued call, a deadlock, and silos that are frozen, killed or shutting down.
/// </summary>
public sealed class ScenarioTests(OrleansCluster cluster, ITestOutputHelper output) : ClusterTest(cluster, output)
{
    private static readonly string Grains = Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "..", "Stackscope.Orleans.Silo", "Grains.cs");
    private static readonly TimeSpan CallBound = TimeSpan.FromSeconds(30);

    private static int Line(string marker) => SourceLines.Find(Grains, marker);

    private async Task<ClusterStacks> Read()
    {
        ClusterStacks stacks = await Cluster.Stacks.GetClusterStacksAsync().WaitAsync(CallBound);
        Output.WriteLine(stacks.ToString());
        return stacks;
    }

    /// <summary>Reads until <paramref name="ready"/> holds (a state only the silos know, e.g. a call now queued), at most 30 s.</summary>
    private async Task<ClusterStacks> ReadUntil(Func<ClusterStacks, bool> ready, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            ClusterStacks stacks = await Cluster.Stacks.GetClusterStacksAsync().WaitAsync(CallBound);
            if (ready(stacks))
            {
                Output.WriteLine(stacks.ToString());
                return stacks;
            }
            Assert.True(clock.Elapsed < CallBound, $"not seen within {CallBound}: {what}\n{stacks}");
        }
    }

    /// <summary>A chain that does not branch, as the list of its requests (asserting it does not branch).</summary>
    private static List<GrainRequest> Flatten(GrainCallChain chain)
    {
        var list = new List<GrainRequest>();
        for (GrainCallChain? c = chain; c is not null; c = c.Next.Count == 0 ? null : Assert.Single(c.Next))
        {
            list.Add(c.Request);
        }
        return list;
    }

    [Fact]
    public async Task A_three_hop_chain_across_three_silo_processes_is_one_stack_read_from_a_client_only_host()
    {
        SiloProcess silo1 = Silos[0], silo2 = Silos[1], silo3 = Silos[2];
        Task<string> call = Cluster.OnSilo(silo1, c => c.GetGrain<IRelayGrain>("hop-a").Call(["hop-b", "stuck-hop-c"], [silo2.Address, silo3.Address]));
        await silo1.Entered("hop-a");
        await silo2.Entered("hop-b");
        await silo3.Entered("stuck-hop-c");

        ClusterStacks stacks = await Read();

        Assert.Equal(["silo-1", "silo-2", "silo-3"], stacks.Silos.Select(static s => s.Silo).Order());
        Assert.All(stacks.Silos, static s => Assert.True(s.Answered, s.Silo));
        List<GrainRequest> requests = Flatten(Assert.Single(stacks.Stuck, c => c.Request.Grain == "relay/hop-a"));
        Assert.Equal(["relay/hop-a", "relay/hop-b", "stuck/stuck-hop-c"], requests.Select(static r => r.Grain));
        Assert.Equal(["silo-1", "silo-2", "silo-3"], requests.Select(static r => r.Silo));
        Assert.Equal(["IRelayGrain.Call", "IRelayGrain.Call", "IStuckGrain.Wait"], requests.Select(static r => r.Method));
        foreach (GrainRequest relay in requests.Take(2))
        {
            Assert.Equal([Line("relay-call"), Line("relay-forward"), null], relay.Stack!.Frames.Select(static f => f.Location?.Line));
        }
        Assert.StartsWith("grain call IRelayGrain.Call → relay/hop-b", requests[0].Stack!.Leaf!.Description);
        Assert.StartsWith("grain call IStuckGrain.Wait → stuck/stuck-hop-c", requests[1].Stack!.Leaf!.Description);
        Assert.Equal("relay/hop-a", requests[1].Caller);
        Assert.Equal(Line("stuck-await"), Assert.Single(requests[2].Stack!.Frames).Location!.Line);
        Assert.All(requests, static r => Assert.StartsWith("Orleans' RequestProcessingWarningTime (20.0 s) in ", r.OrleansLimits));

        // The admin endpoint, served by a web app that is only a cluster client: text, JSON and the page.
        (string text, string json, string html) = await AdminEndpoint();
        Assert.Contains("relay/hop-a [RelayGrain] on silo-1: IRelayGrain.Call running for ", text);
        Assert.Contains("stuck/stuck-hop-c [StuckGrain] on silo-3: IStuckGrain.Wait running for ", text);
        Assert.Contains($"Grains.cs:line {Line("stuck-await")}", text);
        using (JsonDocument document = JsonDocument.Parse(json))
        {
            Assert.Equal("stackscope-orleans/3", document.RootElement.GetProperty("schema").GetString());
            Assert.Equal(3, document.RootElement.GetProperty("silos").GetArrayLength());
            Assert.Contains(document.RootElement.GetProperty("stuck").EnumerateArray(), static c => c.GetProperty("request").GetProperty("grain").GetString() == "relay/hop-a");
        }
        Assert.Contains("<span class=\"ss-title\">stuck/stuck-hop-c</span>", html);

        silo3.Release("stuck-hop-c");
        Assert.Equal("released from stuck-hop-c via hop-b via hop-a", await call.WaitAsync(CallBound));
    }

    [Fact]
    public async Task A_call_queued_in_another_process_shows_its_position_and_the_request_holding_the_grain()
    {
        SiloProcess silo1 = Silos[0], silo2 = Silos[1], silo3 = Silos[2];
        // q-b on silo-2 is busy awaiting stuck-q on silo-3; q-a on silo-1 then calls q-b, and waits in its queue.
        Task<string> first = Cluster.OnSilo(silo2, c => c.GetGrain<IRelayGrain>("q-b").Call(["stuck-q"], [silo3.Address]));
        await silo3.Entered("stuck-q");
        Task<string> second = Cluster.OnSilo(silo1, c => c.GetGrain<IRelayGrain>("q-a").Call(["q-b", "stuck-never"], [silo2.Address, silo2.Address]));
        await silo1.Entered("q-a");

        ClusterStacks stacks = await ReadUntil(s => s.Silos.SelectMany(static x => x.Activations).Any(static a => a.Grain == "relay/q-b" && a.Waiting.Count == 1), "q-a's call waiting in q-b's queue");

        List<GrainRequest> requests = Flatten(Assert.Single(stacks.Stuck, c => c.Request.Grain == "relay/q-a"));
        Assert.Equal(["relay/q-a", "relay/q-b", "relay/q-b", "stuck/stuck-q"], requests.Select(static r => r.Grain));
        Assert.Equal(["silo-1", "silo-2", "silo-2", "silo-3"], requests.Select(static r => r.Silo));
        Assert.Equal(GrainRequestState.Waiting, requests[1].State);
        Assert.Equal(1, requests[1].QueuePosition);
        Assert.Null(requests[1].OrleansLimits);
        Assert.Equal("relay/q-a", requests[1].Caller);
        Assert.True(requests[2].IsBlocking);
        Assert.Equal(Line("stuck-await"), Assert.Single(requests[3].Stack!.Frames).Location!.Line);
        Assert.Contains("relay/q-b [RelayGrain] on silo-2: IRelayGrain.Call QUEUED at position 1", stacks.ToString());

        silo3.Release("stuck-q");
        Assert.Equal("released from stuck-q via q-b", await first.WaitAsync(CallBound));
        silo1.Abandon("q-a");
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second.WaitAsync(CallBound));
    }

    [Fact]
    public async Task A_deadlock_between_two_silo_processes_is_reported_as_a_cycle()
    {
        SiloProcess silo1 = Silos[0], silo2 = Silos[1];
        // dead-a (silo-1) → dead-b (silo-2) → dead-a, whose queue holds the call back behind its own request.
        Task<string> cycle = Cluster.OnSilo(silo1, c => c.GetGrain<IDeadlockGrain>("dead-a").CallPartner("dead-b", silo2.Address));
        await silo1.Entered("dead-a");
        await silo2.Entered("dead-b");

        ClusterStacks stacks = await ReadUntil(static s => s.Deadlocks.Count > 0, "the call cycle");

        Deadlock deadlock = Assert.Single(stacks.Deadlocks);
        Assert.Equal("call cycle", deadlock.Kind);
        Assert.Equal(["deadlock/dead-a (silo-1)", "deadlock/dead-b (silo-2)"], deadlock.Cycle);
        Assert.Contains("DEADLOCK (call cycle): deadlock/dead-a (silo-1) → deadlock/dead-b (silo-2) → deadlock/dead-a (silo-1)", stacks.ToString());
        List<GrainRequest> requests = Flatten(Assert.Single(stacks.Stuck, c => c.Request.Grain == "deadlock/dead-a"));
        Assert.Equal(["deadlock/dead-a", "deadlock/dead-b", "deadlock/dead-a"], requests.Select(static r => r.Grain));
        Assert.Equal(["IDeadlockGrain.CallPartner", "IDeadlockGrain.CallBack", "IDeadlockGrain.Back"], requests.Select(static r => r.Method));
        Assert.Equal(Line("deadlock-call"), requests[0].Stack!.Frames[0].Location!.Line);
        Assert.Equal(Line("deadlock-callback"), requests[1].Stack!.Frames[0].Location!.Line);
        Assert.Equal(GrainRequestState.Waiting, requests[2].State);

        silo2.Abandon("dead-b"); // breaks the cycle: b stops waiting, a's call fails
        await Assert.ThrowsAnyAsync<Exception>(() => cycle.WaitAsync(CallBound));
    }

    [Fact]
    public async Task A_frozen_a_killed_and_a_stopping_silo_never_hold_up_or_fail_the_read()
    {
        SiloProcess silo1 = Silos[0], silo2 = Silos[1], silo3 = Silos[2];
        Task<string> call = Cluster.OnSilo(silo1, c => c.GetGrain<IStuckGrain>("stuck-faults").Wait());
        await silo1.Entered("stuck-faults");
        TimeSpan bound = new StackscopeOrleansOptions().ReadBound;

        try
        {
            await FrozenKilledAndStopping(silo1, silo2, silo3, bound);
        }
        finally
        {
            foreach (SiloProcess silo in Silos.Where(static s => s.HasExited))
            {
                await Cluster.ReplaceAsync(silo);
            }
        }
        silo1.Release("stuck-faults");
        Assert.Equal("released from stuck-faults", await call.WaitAsync(CallBound));
    }

    /// <summary>
    /// The longest a client's read may take: each silo waited for at most <paramref name="bound"/>, the gathering silo given 2 s
    /// more, and a second wave of gatherers if the whole first went through gateways that hang; a second of slack.
    /// </summary>
    private static TimeSpan Budget(TimeSpan bound) => 2 * (bound + TimeSpan.FromSeconds(2)) + TimeSpan.FromSeconds(1);

    private async Task FrozenKilledAndStopping(SiloProcess silo1, SiloProcess silo2, SiloProcess silo3, TimeSpan bound)
    {
        // Frozen (a hung machine): still an active member, it answers nothing; listed as such after the bound, the others in full.
        silo3.Freeze();
        var clock = Stopwatch.StartNew();
        ClusterStacks frozen = await Cluster.Stacks.GetClusterStacksAsync().WaitAsync(CallBound);
        clock.Stop();
        Output.WriteLine($"read with silo-3 frozen in {clock.Elapsed.TotalSeconds:F1} s:\n{frozen}");
        Assert.True(clock.Elapsed < Budget(bound), $"the read took {clock.Elapsed}");
        SiloStacks silent = Assert.Single(frozen.Silos, static s => s.Silo == "silo-3");
        Assert.False(silent.Answered);
        // Within the bound, or sooner if the others declare it dead while the read waits (Orleans then fails the call).
        Assert.StartsWith("did not answer", Assert.Single(silent.Errors));
        Assert.Contains($"silo-3 ({silent.Address}): NO ANSWER, did not answer", frozen.ToString());
        Assert.Contains(frozen.Stuck, static c => c.Request.Grain == "stuck/stuck-faults" && c.Request.Silo == "silo-1");
        Assert.All(frozen.Silos.Where(static s => s.Silo != "silo-3"), static s => Assert.True(s.Answered, s.Silo));
        silo3.Thaw();
        await Cluster.ReplaceAsync(silo3); // declared dead meanwhile or not: a fresh silo-3 either way

        // Killed while the read is under way: the read still ends within the bound, with the others' answers.
        clock.Restart();
        Task<ClusterStacks> reading = Cluster.Stacks.GetClusterStacksAsync();
        Silos[2].Kill();
        ClusterStacks killed = await reading.WaitAsync(CallBound);
        clock.Stop();
        Output.WriteLine($"read with silo-3 killed under it in {clock.Elapsed.TotalSeconds:F1} s:\n{killed}");
        Assert.True(clock.Elapsed < Budget(bound), $"the read took {clock.Elapsed}");
        Assert.Contains(killed.Stuck, static c => c.Request.Grain == "stuck/stuck-faults");
        Assert.All(killed.Silos.Where(static s => s.Silo != "silo-3"), static s => Assert.True(s.Answered, s.Silo));
        Assert.All(killed.Silos.Where(static s => s.Silo == "silo-3"), static s => Assert.False(s.Answered)); // listed until declared dead
        await Cluster.ReplaceAsync(Silos[2]);

        // Shutting down gracefully while read: the same.
        clock.Restart();
        Task<ClusterStacks> whileStopping = Cluster.Stacks.GetClusterStacksAsync();
        Task<bool> stopping = Task.Run(() => silo2.Stop());
        try
        {
            ClusterStacks stopped = await whileStopping.WaitAsync(CallBound);
            clock.Stop();
            Output.WriteLine($"read with silo-2 stopping in {clock.Elapsed.TotalSeconds:F1} s:\n{stopped}");
            Assert.True(clock.Elapsed < Budget(bound), $"the read took {clock.Elapsed}");
            Assert.Contains(stopped.Stuck, static c => c.Request.Grain == "stuck/stuck-faults");
            Assert.True(Assert.Single(stopped.Silos, static s => s.Silo == "silo-1").Answered);
            Assert.True(await stopping.WaitAsync(CallBound), "silo-2 did not stop by itself");
        }
        finally
        {
            await Cluster.ReplaceAsync(Silos[1]); // the cluster whole again for the next test, whatever happened here
        }
    }

    [Fact]
    public async Task Ten_thousand_activations_fifty_busy_across_three_silos_are_read_in_one_query()
    {
        // 3,334 idle activations on each silo (10,002 in all), and 50 requests suspended across the three.
        await Task.WhenAll(Silos.Select((s, i) => Cluster.OnSilo(s, c => c.GetGrain<IIdleSpawnerGrain>($"spawner-load-{i}").Spawn($"idle-load-{i}", 3334)).WaitAsync(TimeSpan.FromMinutes(2))));
        var calls = new List<Task<string>>();
        for (int i = 0; i < 50; i++)
        {
            SiloProcess silo = Silos[i % 3];
            calls.Add(Cluster.OnSilo(silo, c => c.GetGrain<IStuckGrain>($"stuck-load-{i}").Wait()));
        }
        for (int i = 0; i < 50; i++)
        {
            await Silos[i % 3].Entered($"stuck-load-{i}");
        }

        var clock = Stopwatch.StartNew();
        ClusterStacks stacks = await Cluster.Stacks.GetClusterStacksAsync().WaitAsync(CallBound);
        clock.Stop();
        Output.WriteLine($"read in {clock.Elapsed.TotalMilliseconds:F0} ms: {ClusterSummary(stacks)}");

        Assert.All(stacks.Silos, static s => Assert.True(s.Answered, s.Silo));
        Assert.True(stacks.Silos.Sum(static s => s.ActivationCount) >= 10_050, ClusterSummary(stacks));
        GrainCallChain[] busy = stacks.Stuck.Where(static c => c.Request.Grain.StartsWith("stuck/stuck-load-", StringComparison.Ordinal)).ToArray();
        Assert.Equal(50, busy.Length);
        Assert.All(busy, c => Assert.Equal(Line("stuck-await"), Assert.Single(c.Request.Stack!.Frames).Location!.Line));
        Assert.Equal([17, 17, 16], Enumerable.Range(1, 3).Select(n => busy.Count(c => c.Request.Silo == $"silo-{n}")));

        for (int i = 0; i < 50; i++)
        {
            Silos[i % 3].Release($"stuck-load-{i}");
        }
        await Task.WhenAll(calls).WaitAsync(CallBound);
    }

    private static string ClusterSummary(ClusterStacks stacks) =>
        string.Join(", ", stacks.Silos.Select(static s => $"{s.Silo}: {s.ActivationCount} activations, {s.Activations.Count} busy"));

    /// <summary>A web app that is only a cluster client, serving the admin endpoint; its text, JSON and page.</summary>
    private async Task<(string Text, string Json, string Html)> AdminEndpoint()
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.UseOrleansClient(client => client.UseTestCluster(Cluster.Redis, Cluster.ClusterId).AddStackscope(o => o.StuckThreshold = TimeSpan.Zero));
        await using WebApplication app = builder.Build();
        app.MapStackscope("/admin/stackscope");
        using (var starting = new CancellationTokenSource(OrleansCluster.MembershipBound))
        {
            await app.StartAsync(starting.Token);
        }
        string root = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        using var http = new HttpClient { Timeout = CallBound };
        async Task<string> Get(string path)
        {
            HttpResponseMessage response = await http.GetAsync(root + path);
            string body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {body}");
            return body;
        }
        var result = (await Get("/admin/stackscope?format=text"), await Get("/admin/stackscope"), await Get("/admin/stackscope/html"));
        Output.WriteLine(result.Item1);
        using (var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(10)))
        {
            await app.StopAsync(stopping.Token);
        }
        return result;
    }
}
