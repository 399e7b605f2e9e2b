using Microsoft.Extensions.DependencyInjection;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.Runtime.Placement;
using Orleans.TestingHost;
using Stackscope.Glue;
using Stackscope.Orleans.Inspection;
using Stackscope.Tests;
using Xunit.Abstractions;

namespace Stackscope.Orleans.Tests;

/// <summary>A real 2-silo cluster (Orleans.TestingHost, in process), Stackscope added to both silos with request tracking on.</summary>
public sealed class TwoSiloCluster : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // The client is a reader too: a host that runs no silo (an admin app), with Stackscope's defaults.
        Cluster = Build(2, client: null);
        await Cluster.DeployAsync();
    }

    /// <summary>
    /// An in-process cluster of <paramref name="silos"/> silos, Stackscope in each with request tracking on (every request
    /// stuck), Orleans' warning time <see cref="WarningTime"/>; the client reads the cluster with <paramref name="client"/>'s options.
    /// </summary>
    internal static InProcessTestCluster Build(short silos, Action<StackscopeOrleansOptions>? client)
    {
        var builder = new InProcessTestClusterBuilder(silos);
        builder.ConfigureSilo((_, silo) => silo
            .AddStackscope(o => { o.TrackRequests = true; o.StuckThreshold = TimeSpan.Zero; })
            .Configure<SiloMessagingOptions>(o => { o.ResponseTimeout = TimeSpan.FromMinutes(2); o.RequestProcessingWarningTime = WarningTime; }));
        builder.ConfigureClient(c => c
            .AddStackscope(client)
            .Configure<ClientMessagingOptions>(o => o.ResponseTimeout = TimeSpan.FromMinutes(2)));
        return builder.Build();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    public SiloAddress Silo(int index) => Cluster.Silos[index].SiloAddress;

    public string SiloName(int index) => Cluster.Silos[index].Name;

    public IGrainStacks Stacks(int index) => Cluster.Silos[index].SiloHost.Services.GetRequiredService<IGrainStacks>();

    /// <summary>The cluster client's reader: it runs no silo.</summary>
    public IGrainStacks ClientStacks => Cluster.Client.ServiceProvider.GetRequiredService<IGrainStacks>();

    /// <summary>The silos' Orleans warning time for slow requests (not Orleans' 20 s default, to tell it apart).</summary>
    public static readonly TimeSpan WarningTime = TimeSpan.FromSeconds(42);
}

[CollectionDefinition("orleans", DisableParallelization = true)]
public sealed class OrleansCollection : ICollectionFixture<TwoSiloCluster>;

[Collection("orleans")]
public sealed class ClusterTests(TwoSiloCluster fixture, ITestOutputHelper output) : IDisposable
{
    private static readonly string Subjects = Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "Grains.cs");
    private readonly IGrainFactory _grains = fixture.Cluster.Client;

    internal static int Line(string marker) => SourceLines.Find(Subjects, marker);

    public void Dispose()
    {
        Gate.ReleaseAll();
    }

    /// <summary>
    /// Waits until the grain behind <paramref name="key"/>'s gate is suspended on the task it announced, all the way up
    /// to the runtime's Invoke of its request (what a report climbs). A bounded wait on that exact state, not a guess.
    /// </summary>
    internal static async Task Suspended(string key)
    {
        Task awaited = await Gate.For(key).Entered.Task;
        Assert.True(SpinWait.SpinUntil(() => SiloScan.Climb(awaited) is not null, TimeSpan.FromSeconds(30)), $"{key} did not suspend on its await: {Above(awaited)}");
    }

    /// <summary>What is above <paramref name="start"/>, for a failure message.</summary>
    private static string Above(object start)
    {
        var names = new List<string>();
        TaskGraph.FindAbove(start, node => { names.Add(node.GetType().Name + (node.GetType().IsGenericType ? "<" + string.Join(",", node.GetType().GetGenericArguments().Select(static a => a.Name)) + ">" : "")); return false; });
        return string.Join(" ← ", names);
    }

    private async Task<ClusterStacks> Read(int fromSilo = 0)
    {
        ClusterStacks stacks = await fixture.Stacks(fromSilo).GetClusterStacksAsync();
        output.WriteLine(stacks.ToString());
        return stacks;
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
    public async Task Stuck_request_shows_its_method_time_caller_and_await_line()
    {
        RequestContext.Set(IPlacementDirector.PlacementHintKey, fixture.Silo(1));
        Task<string> call = _grains.GetGrain<IStuckGrain>("stuck-alone").Wait();
        RequestContext.Clear();
        await Suspended("stuck-alone");

        ClusterStacks stacks = await Read();

        GrainCallChain chain = Assert.Single(stacks.Stuck, c => c.Request.Grain == "stuck/stuck-alone");
        GrainRequest request = chain.Request;
        Assert.Equal(fixture.SiloName(1), request.Silo);
        Assert.Equal("StuckGrain", request.GrainType);
        Assert.Equal("IStuckGrain.Wait", request.Method);
        Assert.Equal(GrainRequestState.Running, request.State);
        Assert.StartsWith("sys.client/", request.Caller);
        LogicalFrame frame = Assert.Single(request.Stack!.Frames);
        Assert.Equal("async Task<string> StuckGrain.Wait()", frame.DisplayName);
        Assert.Equal(Line("stuck-await"), frame.Location!.Line);
        Assert.Equal("TaskCompletionSource<string>.Task", request.Stack.Leaf!.Description);
        Assert.Contains($"Grains.cs:line {Line("stuck-await")}", stacks.ToString());
        // Below the threshold, it is not stuck.
        ClusterStacks patient = await fixture.Stacks(0).GetClusterStacksAsync(threshold: TimeSpan.FromHours(1));
        Assert.DoesNotContain(patient.Stuck, c => c.Request.Grain == "stuck/stuck-alone");

        Gate.For("stuck-alone").Release.SetResult("ok");
        Assert.Equal("ok from stuck-alone", await call);
    }

    [Fact]
    public async Task Three_grain_call_chain_across_both_silos_is_one_stack()
    {
        // a on silo 0 → b on silo 1 → stuck-c on silo 0; read from silo 1, which must ask silo 0.
        Task<string> call = Start("chain-a", 0, ["chain-b", "stuck-c"], [1, 0]);
        await Suspended("chain-a");
        await Suspended("chain-b");
        await Suspended("stuck-c");

        ClusterStacks stacks = await Read(fromSilo: 1);

        GrainCallChain chain = Assert.Single(stacks.Stuck, c => c.Request.Grain == "relay/chain-a");
        List<GrainRequest> requests = Flatten(chain);
        Assert.Equal(new[] { "relay/chain-a", "relay/chain-b", "stuck/stuck-c" }, requests.Select(static r => r.Grain));
        Assert.Equal(new[] { fixture.SiloName(0), fixture.SiloName(1), fixture.SiloName(0) }, requests.Select(static r => r.Silo));
        Assert.Equal(new[] { "IRelayGrain.Call", "IRelayGrain.Call", "IStuckGrain.Wait" }, requests.Select(static r => r.Method));
        foreach (GrainRequest relay in requests.Take(2))
        {
            LogicalStack stack = relay.Stack!;
            Assert.Equal(new int?[] { Line("relay-call"), Line("relay-forward"), null }, stack.Frames.Select(static f => f.Location?.Line));
            Assert.StartsWith("Task.WaitAsync", stack.Frames[2].DisplayName);
        }
        Assert.StartsWith("grain call IRelayGrain.Call → relay/chain-b", requests[0].Stack!.Leaf!.Description);
        Assert.Equal("IRelayGrain.Call", Assert.Single(requests[0].AwaitedCalls).Method);
        Assert.Equal("relay/chain-b", requests[0].AwaitedCalls[0].TargetGrain);
        Assert.Equal("IStuckGrain.Wait", Assert.Single(requests[1].AwaitedCalls).Method);
        Assert.Equal("relay/chain-a", requests[1].Caller);
        Assert.Equal(Line("stuck-await"), Assert.Single(requests[2].Stack!.Frames).Location!.Line);
        Assert.Empty(stacks.Deadlocks);

        Gate.For("stuck-c").Release.SetResult("c");
        Assert.Equal("c from stuck-c via chain-b via chain-a", await call);
    }

    [Fact]
    public async Task Call_queued_behind_a_running_request_shows_its_position_and_what_holds_it()
    {
        Task<string> first = Start("queue-b", 1, ["stuck-q"], [1]);
        await Suspended("stuck-q");
        // queue-b is busy (not reentrant): a's call to it waits in its queue.
        Task<string> second = Start("queue-a", 0, ["queue-b", "stuck-never"], [1, 1]);
        await Suspended("queue-a");
        Assert.True(SpinWait.SpinUntil(() => fixture.Stacks(1).GetSiloStacks().Activations.Any(a => a.Grain == "relay/queue-b" && a.Waiting.Count == 1), TimeSpan.FromSeconds(30)));

        ClusterStacks stacks = await Read();

        GrainCallChain chain = Assert.Single(stacks.Stuck, c => c.Request.Grain == "relay/queue-a");
        List<GrainRequest> requests = Flatten(chain);
        Assert.Equal(new[] { "relay/queue-a", "relay/queue-b", "relay/queue-b", "stuck/stuck-q" }, requests.Select(static r => r.Grain));
        Assert.Equal(GrainRequestState.Waiting, requests[1].State);
        Assert.Equal(1, requests[1].QueuePosition);
        Assert.Equal("relay/queue-a", requests[1].Caller);
        Assert.Equal(GrainRequestState.Running, requests[2].State);
        Assert.True(requests[2].IsBlocking);
        Assert.Equal(Line("stuck-await"), Assert.Single(requests[3].Stack!.Frames).Location!.Line);
        Assert.Contains("IRelayGrain.Call QUEUED at position 1", stacks.ToString());

        Gate.For("stuck-q").Release.SetResult("q");
        Assert.Equal("q from stuck-q via queue-b", await first);
        Gate.For("queue-a").Abandon.Cancel();
        Gate.For("queue-b").Abandon.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => second);
    }

    [Fact]
    public async Task Call_cycle_between_non_reentrant_grains_is_reported_as_a_deadlock()
    {
        // dead-a (silo 0) → dead-b (silo 1) → dead-a: queued behind dead-a's own request.
        Task<string> call = Start("dead-a", 0, ["dead-b", "dead-a"], [1, 0]);
        await Suspended("dead-a");
        await Suspended("dead-b");
        Assert.True(SpinWait.SpinUntil(() => fixture.Stacks(0).GetSiloStacks().Activations.Any(a => a.Grain == "relay/dead-a" && a.Waiting.Count == 1), TimeSpan.FromSeconds(30)));

        ClusterStacks stacks = await Read();

        Deadlock deadlock = Assert.Single(stacks.Deadlocks);
        Assert.Equal("call cycle", deadlock.Kind);
        Assert.Equal(new[] { $"relay/dead-a ({fixture.SiloName(0)})", $"relay/dead-b ({fixture.SiloName(1)})" }, deadlock.Cycle);
        Assert.Contains($"DEADLOCK (call cycle): relay/dead-a ({fixture.SiloName(0)}) → relay/dead-b ({fixture.SiloName(1)}) → relay/dead-a ({fixture.SiloName(0)})", stacks.ToString());
        GrainCallChain chain = Assert.Single(stacks.Stuck, c => c.Request.Grain == "relay/dead-a");
        List<GrainRequest> requests = Flatten(chain);
        Assert.Equal(new[] { "relay/dead-a", "relay/dead-b", "relay/dead-a" }, requests.Select(static r => r.Grain));
        Assert.Equal(GrainRequestState.Waiting, requests[2].State);

        // Break the cycle: b stops waiting; a's call fails, and the queued request then runs and returns.
        Gate.For("dead-b").Abandon.Cancel();
        await Assert.ThrowsAnyAsync<Exception>(() => call);
    }

    [Fact]
    public async Task A_host_that_is_only_a_cluster_client_reads_every_silo_with_Orleans_limits()
    {
        Task<string> call = Start("client-a", 0, ["stuck-client"], [1]);
        await Suspended("client-a");
        await Suspended("stuck-client");

        IGrainStacks reader = fixture.ClientStacks;
        Assert.Equal(["this host is a cluster client: it runs no silo (GetClusterStacksAsync reads every silo)"], reader.GetSiloStacks().Errors);
        ClusterStacks stacks = await reader.GetClusterStacksAsync(threshold: TimeSpan.Zero);
        output.WriteLine(stacks.ToString());

        Assert.Equal(new[] { fixture.SiloName(0), fixture.SiloName(1) }.Order(), stacks.Silos.Select(static s => s.Silo).Order());
        Assert.All(stacks.Silos, static s => Assert.True(s.Answered));
        Assert.All(stacks.Silos, static s => Assert.Equal(TwoSiloCluster.WarningTime, s.RequestWarningTime));
        Assert.DoesNotContain(stacks.Silos.SelectMany(static s => s.Activations), static a => a.GrainType.Contains("ClusterStacksGrain", StringComparison.Ordinal));
        List<GrainRequest> requests = Flatten(Assert.Single(stacks.Stuck, c => c.Request.Grain == "relay/client-a"));
        Assert.Equal(new[] { "relay/client-a", "stuck/stuck-client" }, requests.Select(static r => r.Grain));
        Assert.Equal(new[] { fixture.SiloName(0), fixture.SiloName(1) }, requests.Select(static r => r.Silo));
        Assert.Equal(Line("stuck-await"), Assert.Single(requests[1].Stack!.Frames).Location!.Line);
        Assert.All(requests, static r => Assert.Matches(
            @"^Orleans' RequestProcessingWarningTime \(42\.0 s\) in [0-9.]+ s; MaxRequestProcessingTime \(2 h 0 min\), past which Orleans deactivates the activation as unresponsive, in ",
            r.OrleansLimits));
        Assert.Contains("Orleans: Orleans' RequestProcessingWarningTime (42.0 s) in ", stacks.ToString());

        // With no threshold configured on the reader, Orleans' own warning time is the stuck rule.
        ClusterStacks byDefault = await reader.GetClusterStacksAsync();
        Assert.Equal(TwoSiloCluster.WarningTime, byDefault.Threshold);
        Assert.DoesNotContain(byDefault.Stuck, c => c.Request.Grain == "relay/client-a");

        Gate.For("stuck-client").Release.SetResult("c");
        Assert.Equal("c from stuck-client via client-a", await call);
    }

    [Fact]
    public void Orleans_limits_are_stated_before_and_after_each_is_passed()
    {
        var limits = new SiloMessagingOptions { RequestProcessingWarningTime = TimeSpan.FromSeconds(20), MaxRequestProcessingTime = TimeSpan.FromHours(2) };
        Assert.Equal("Orleans' RequestProcessingWarningTime (20.0 s) in 15.0 s; MaxRequestProcessingTime (2 h 0 min), past which Orleans deactivates the activation as unresponsive, in 1 h 59 min",
            SiloScan.LimitsText(TimeSpan.FromSeconds(5), limits));
        Assert.Equal("past Orleans' RequestProcessingWarningTime (20.0 s): Orleans logs it as slow; past MaxRequestProcessingTime (2 h 0 min) by 10 min 0 s: Orleans deactivates the activation as unresponsive (ActivationUnresponsive) when another request arrives",
            SiloScan.LimitsText(TimeSpan.FromMinutes(130), limits));
        Assert.Null(SiloScan.LimitsText(TimeSpan.FromSeconds(5), null));
    }

    private Task<string> Start(string key, int silo, string[] path, int[] silos)
    {
        RequestContext.Set(IPlacementDirector.PlacementHintKey, fixture.Silo(silo));
        try
        {
            return _grains.GetGrain<IRelayGrain>(key).Call(path, silos.Select(fixture.Silo).ToArray());
        }
        finally
        {
            RequestContext.Clear();
        }
    }
}
