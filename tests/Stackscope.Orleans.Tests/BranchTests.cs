using Orleans.Runtime;
using Orleans.Runtime.Placement;
using Xunit.Abstractions;

namespace Stackscope.Orleans.Tests;

/// <summary>Requests that wait for several grains at once, and stateless workers, on the real 2-silo cluster.</summary>
[Collection("orleans")]
public sealed class BranchTests(TwoSiloCluster fixture, ITestOutputHelper output) : IDisposable
{
    private readonly IGrainFactory _grains = fixture.Cluster.Client;

    public void Dispose() => Gate.ReleaseAll();

    private async Task<ClusterStacks> Read()
    {
        ClusterStacks stacks = await fixture.Stacks(0).GetClusterStacksAsync();
        output.WriteLine(stacks.ToString());
        return stacks;
    }

    [Fact]
    public async Task A_request_awaiting_WhenAll_of_grain_calls_follows_every_pending_branch()
    {
        RequestContext.Set(IPlacementDirector.PlacementHintKey, fixture.Silo(0));
        Task<string> call = _grains.GetGrain<IFanOutGrain>("fan").CallAll(["stuck-f1", "stuck-f2", "stuck-f3"]);
        RequestContext.Clear();
        await ClusterTests.Suspended("fan");
        await ClusterTests.Suspended("stuck-f1");
        await ClusterTests.Suspended("stuck-f2");
        await ClusterTests.Suspended("stuck-f3");
        Gate.For("stuck-f3").Release.SetResult("f3");
        Assert.True(SpinWait.SpinUntil(() => !fixture.Stacks(0).GetSiloStacks().Activations.Concat(fixture.Stacks(1).GetSiloStacks().Activations)
            .Any(a => a.Grain == "stuck/stuck-f3"), TimeSpan.FromSeconds(30)), "stuck-f3 did not finish");

        ClusterStacks stacks = await Read();

        // Both stuck branches belong under the fan-out request, not listed as chains of their own.
        Assert.DoesNotContain(stacks.Stuck, c => c.Request.Grain.StartsWith("stuck/stuck-f", StringComparison.Ordinal));
        GrainCallChain chain = Assert.Single(stacks.Stuck, c => c.Request.Grain == "fanout/fan");
        Assert.Equal(["stuck/stuck-f1", "stuck/stuck-f2"], chain.Next.Select(static n => n.Request.Grain).Order());
        Assert.All(chain.Next, n => Assert.Equal(ClusterTests.Line("stuck-await"), n.Request.Stack!.Frames[0].Location!.Line));
        Assert.Equal(["IStuckGrain.Wait", "IStuckGrain.Wait"], chain.Request.AwaitedCalls.Select(static c => c.Method));
        LogicalStack stack = chain.Request.Stack!;
        Assert.Equal("async Task<string> FanOutGrain.CallAll(string[] keys)", stack.Frames[0].DisplayName);
        Assert.Equal(ClusterTests.Line("fanout-await"), stack.Frames[0].Location!.Line);
        Assert.Contains(stack.Children, c => c.Leaf?.Description.StartsWith("grain call IStuckGrain.Wait → stuck/stuck-f1", StringComparison.Ordinal) == true);
        Assert.Contains(stack.Children, c => c.Leaf?.Description.StartsWith("grain call IStuckGrain.Wait → stuck/stuck-f2", StringComparison.Ordinal) == true);

        Gate.For("stuck-f1").Release.SetResult("f1");
        Gate.For("stuck-f2").Release.SetResult("f2");
        Assert.Equal("f1 from stuck-f1, f2 from stuck-f2, f3 from stuck-f3", await call);
    }

    [Fact]
    public async Task A_stateless_worker_is_listed_like_any_grain_and_its_calls_are_stitched()
    {
        RequestContext.Set(IPlacementDirector.PlacementHintKey, fixture.Silo(1));
        Task<string> call = _grains.GetGrain<IWorkerGrain>(0).Relay("stuck-w");
        RequestContext.Clear();
        await ClusterTests.Suspended("worker-stuck-w");
        await ClusterTests.Suspended("stuck-w");

        ClusterStacks stacks = await Read();

        GrainActivation worker = Assert.Single(stacks.Silos.SelectMany(static s => s.Activations), a => a.Grain == "worker/0");
        Assert.Equal("WorkerGrain", worker.GrainType);
        Assert.DoesNotContain(stacks.Stuck, c => c.Request.Grain == "stuck/stuck-w");
        GrainCallChain chain = Assert.Single(stacks.Stuck, c => c.Request.Grain == "worker/0");
        Assert.Equal("IWorkerGrain.Relay", chain.Request.Method);
        Assert.Equal(ClusterTests.Line("worker-await"), chain.Request.Stack!.Frames[0].Location!.Line);
        GrainCallChain callee = Assert.Single(chain.Next);
        Assert.Equal("stuck/stuck-w", callee.Request.Grain);
        Assert.Equal("worker/0", callee.Request.Caller);

        Gate.For("stuck-w").Release.SetResult("w");
        Assert.Equal("w from stuck-w via a worker", await call);
    }
}
