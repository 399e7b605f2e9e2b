using Stackscope.Tests.Subjects;

namespace Stackscope.Tests;

[CollectionDefinition(nameof(TrackingCollection), DisableParallelization = true)]
public sealed class TrackingCollection;

/// <summary>Task tracking on for the length of a test (tests using it belong to <see cref="TrackingCollection"/>).</summary>
internal sealed class TrackingScope : IDisposable
{
    private TrackingScope() => TaskTracking.Enable();

    public static TrackingScope Enable() => new();

    public void Dispose() => TaskTracking.Disable();
}

/// <summary>These tests switch process-wide tracking on and off, so they run alone.</summary>
[Collection(nameof(TrackingCollection))]
public class CurrentThreadTests
{
    [Fact]
    public async Task Before_the_first_await_the_thread_itself_holds_the_callers()
    {
        LogicalStack stack = await Current.CallerOfSync();

        LogicalFrame inner = stack.Frames[^1];
        LogicalFrame caller = stack.Frames[^2];
        Assert.Equal("async Task<LogicalStack> Current.BeforeFirstAwait()", inner.DisplayName);
        Assert.Equal(Where.Line("current-sync"), inner.Location!.Line);
        Assert.Equal(FrameState.Running, inner.State);
        Assert.Equal("async Task<LogicalStack> Current.CallerOfSync()", caller.DisplayName);
        Assert.Equal(Where.Line("current-sync-caller"), caller.Location!.Line);
        int testMethod = stack.Frames.ToList().FindIndex(f => f.Method?.Name == nameof(Before_the_first_await_the_thread_itself_holds_the_callers));
        Assert.True(testMethod >= 0 && testMethod < stack.Frames.Count - 2, stack.ToString());
        Assert.DoesNotContain(stack.Frames, f => f.DisplayName.Contains("MoveNext") || f.DisplayName.Contains("AsyncMethodBuilder"));
        // From the test method down, everything ran synchronously on this thread: no junction. (xunit's own
        // async frames above the test method may have been resumed by a continuation; that is a real junction.)
        Assert.DoesNotContain(stack.Frames.Skip(testMethod), f => (f.Flags & FrameFlags.AsyncJunction) != 0);
    }

    [Fact]
    public async Task A_resumed_async_method_continues_into_its_logical_callers_with_tracking()
    {
        using TrackingScope tracking = TrackingScope.Enable();
        var gate = new TaskCompletionSource();
        Task<LogicalStack> awaiter = Current.AwaitsResumed(gate.Task);
        gate.SetResult(); // resumes AfterResume inline, on this thread, under TaskCompletionSource.SetResult
        LogicalStack stack = await awaiter;

        Assert.Equal(
            ["async Task<LogicalStack> Current.AwaitsResumed(Task gate)", "async Task<LogicalStack> Current.AfterResume(Task gate)", "LogicalStack Current.Helper()"],
            stack.Frames.Select(f => f.DisplayName));
        Assert.Equal([Where.Line("current-awaiter"), Where.Line("current-resumed"), Where.Line("current-helper")],
            stack.Frames.Select(f => f.Location!.Line));
        Assert.Equal([FrameState.Suspended, FrameState.Running, FrameState.Running], stack.Frames.Select(f => f.State));
        Assert.Equal(FrameFlags.AsyncJunction, stack.Frames[1].Flags);
        Assert.DoesNotContain(stack.Frames, f => f.DisplayName.Contains("SetResult"));
        Assert.Empty(stack.Errors);
        Assert.Contains("async junction", stack.ToString());
    }

    [Fact]
    public async Task Without_tracking_the_junction_is_marked_and_the_gap_explained()
    {
        Assert.False(TaskTracking.IsEnabled);
        var gate = new TaskCompletionSource();
        Task<LogicalStack> awaiter = Current.AwaitsResumed(gate.Task);
        gate.SetResult();
        LogicalStack stack = await awaiter;

        Assert.Equal(["AfterResume", "Helper"], stack.Frames.Select(f => f.Method!.Name));
        Assert.Equal(FrameFlags.AsyncJunction, stack.Frames[0].Flags);
        Assert.Contains(stack.Errors, e => e.Message.Contains("enable TaskTracking"));
    }

    [Fact]
    public async Task ExtractSince_starts_at_the_given_async_method()
    {
        var gate = new TaskCompletionSource();
        Task<LogicalStack> t = Current.Since(gate.Task);
        gate.SetResult();
        LogicalStack stack = await t;

        Assert.Equal(["Since", "SinceHelper"], stack.Frames.Select(f => f.Method!.Name));
        Assert.Equal(Where.Line("since-call"), stack.Frames[0].Location!.Line);
    }

    [Fact]
    public async Task ExtractUntil_ends_at_the_given_method_and_keeps_logical_callers()
    {
        using TrackingScope tracking = TrackingScope.Enable();
        var gate = new TaskCompletionSource();
        Task<LogicalStack> t = Current.AwaitsUntil(gate.Task);
        gate.SetResult();
        LogicalStack stack = await t;

        Assert.Equal(["AwaitsUntil", "Until"], stack.Frames.Select(f => f.Method!.Name));
        Assert.Equal(Where.Line("until-awaiter"), stack.Frames[0].Location!.Line);
    }

    [Fact]
    public async Task Tracking_changes_continuation_shapes_but_walks_still_work()
    {
        using TrackingScope tracking = TrackingScope.Enable();
        var gate = new TaskCompletionSource();
        Task chain = Chains.Outer(gate.Task); // continuations are now wrapped (ContinuationWrapper)
        Assert.Equal(["Outer", "Middle", "Inner"], StackExtractor.Extract(gate.Task).Frames.Select(f => f.Method!.Name));
        Assert.Equal(["Outer", "Middle", "Inner"], StackExtractor.Extract(chain).Frames.Select(f => f.Method!.Name));
        gate.SetResult();
        await chain;
    }
}
