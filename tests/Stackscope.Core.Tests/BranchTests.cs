using System.Threading.Channels;
using Stackscope.Tests.Subjects;

namespace Stackscope.Tests;

public class BranchTests
{
    [Fact]
    public async Task WhenAll_of_three_is_printed_as_a_tree_of_child_stacks()
    {
        var g1 = new TaskCompletionSource();
        var g2 = new TaskCompletionSource();
        var g3 = new TaskCompletionSource();
        Task<int[]> all = Branches.AllOfThree(g1.Task, g2.Task, g3.Task);

        LogicalStack stack = StackExtractor.Extract(all);

        Assert.Equal(BranchLines.Line("whenall-generic"), Assert.Single(stack.Frames).Location!.Line);
        Assert.Equal(LeafKind.Combinator, stack.Leaf!.Kind);
        Assert.Equal("Task.WhenAll of 3 tasks, 3 pending", stack.Leaf.Description);
        Assert.Equal(3, stack.Children.Count);
        Assert.All(stack.Children, child =>
        {
            LogicalFrame worker = Assert.Single(child.Frames);
            Assert.Equal("async Task<int> Branches.Worker(int id, Task gate)", worker.DisplayName);
            Assert.Equal(BranchLines.Line("worker"), worker.Location!.Line);
            Assert.Equal(LeafKind.TaskCompletionSource, child.Leaf!.Kind);
        });

        int line = BranchLines.Line("whenall-generic"), worker = BranchLines.Line("worker");
        Assert.Equal(
            $"""
            ├ async Task<int[]> Branches.AllOfThree(Task gate1, Task gate2, Task gate3) in BranchSubjects.cs:line {line} · await #1
            └ ⧗ Task.WhenAll of 3 tasks, 3 pending
              ├─┬ child 1 of 3
              │ ├ async Task<int> Branches.Worker(int id, Task gate) in BranchSubjects.cs:line {worker} · await #1
              │ └ ⧗ TaskCompletionSource.Task
              ├─┬ child 2 of 3
              │ ├ async Task<int> Branches.Worker(int id, Task gate) in BranchSubjects.cs:line {worker} · await #1
              │ └ ⧗ TaskCompletionSource.Task
              └─┬ child 3 of 3
                ├ async Task<int> Branches.Worker(int id, Task gate) in BranchSubjects.cs:line {worker} · await #1
                └ ⧗ TaskCompletionSource.Task

            """.ReplaceLineEndings(), stack.ToString());

        g2.SetResult();
        Assert.Equal(2, StackExtractor.Extract(all).Children.Count); // completed children are counted, not shown
        g1.SetResult();
        g3.SetResult();
        int[] results = await all;
        Assert.Equal(new[] { 1, 2, 3 }, results);
    }

    [Fact]
    public async Task WhenAny_of_two_and_of_many_show_their_tasks()
    {
        var gate = new TaskCompletionSource();
        var other = new TaskCompletionSource();
        Task<Task<int>> two = Branches.AnyOfTwo(gate.Task, other.Task);
        Task<Task<int>> three = Branches.AnyOfThree(gate.Task);

        LogicalStack ofTwo = StackExtractor.Extract(two);
        LogicalStack ofThree = StackExtractor.Extract(three);

        Assert.Equal("Task.WhenAny of 2 tasks, 2 pending", ofTwo.Leaf!.Description);
        Assert.Equal(2, ofTwo.Children.Count);
        Assert.Equal(BranchLines.Line("whenany"), ofTwo.Frames[0].Location!.Line);
        Assert.Equal("Task.WhenAny of 3 tasks, 3 pending", ofThree.Leaf!.Description);
        Assert.All(ofThree.Children, c => Assert.Equal("Worker", c.Frames[0].Method!.Name));

        gate.SetResult();
        other.SetResult();
        await Task.WhenAll(two, three);
    }

    [Fact]
    public async Task WaitAsync_shows_its_timeout_and_continues_into_the_awaited_task()
    {
        var gate = new TaskCompletionSource();
        Task<int> t = Branches.WithTimeout(gate.Task);

        LogicalStack stack = StackExtractor.Extract(t);

        Assert.Equal([FrameKind.Async, FrameKind.Combinator, FrameKind.Async], stack.Frames.Select(f => f.Kind));
        Assert.Equal(BranchLines.Line("waitasync"), stack.Frames[0].Location!.Line);
        Assert.Matches(@"^Task\.WaitAsync \(times out in \d+ s\)$", stack.Frames[1].DisplayName);
        Assert.Equal("Worker", stack.Frames[2].Method!.Name);
        Assert.Equal(LeafKind.TaskCompletionSource, stack.Leaf!.Kind);
        gate.SetResult();
        Assert.Equal(7, await t);
    }

    [Fact]
    public async Task Parallel_ForEachAsync_without_tracking_says_its_workers_need_tracking_and_invents_no_resource()
    {
        Assert.False(TaskTracking.IsEnabled);
        var gate = new TaskCompletionSource();
        var asyncGate = new TaskCompletionSource();
        Task t = Branches.ForEachInParallel(gate.Task);
        Task overAsyncSource = Branches.ForEachOfAsyncSourceInParallel(asyncGate.Task);
        // The workers start on the thread pool: wait until both of each loop's workers await their gate — the body's
        // lambda awaiting the gate, and the Parallel worker awaiting the lambda (it registers a moment after the lambda).
        static bool WorkersWait(Task g)
        {
            LogicalStack s = StackExtractor.Extract(g);
            return s.AwaitedBy.Count == 2 && s.AwaitedBy.All(c => c.Frames.Any(f => f.Method?.DeclaringType?.DeclaringType == typeof(Parallel)));
        }
        await RecoveredBranchTests.WaitUntil(() => WorkersWait(gate.Task) && WorkersWait(asyncGate.Task));

        foreach (var (loop, loopGate, marker) in new[] { (t, gate, "foreach-parallel"), (overAsyncSource, asyncGate, "foreach-parallel-async-source") })
        {
            LogicalStack down = StackExtractor.Extract(loop);
            LogicalStack up = StackExtractor.Extract(loopGate.Task);

            Assert.Equal(BranchLines.Line(marker), Assert.Single(down.Frames).Location!.Line);
            Assert.Equal(LeafKind.Combinator, down.Leaf!.Kind);
            Assert.Equal("Parallel.ForEachAsync (the runtime keeps no reference down to its workers; enable TaskTracking to find them)", down.Leaf.Description);
            Assert.All(up.AwaitedBy, caller =>
            {
                LogicalFrame worker = Assert.Single(caller.Frames, f => f.Method?.DeclaringType?.DeclaringType == typeof(Parallel));
                Assert.Empty(worker.Resources); // the workers' shared state is disposed in a finally, not held by a using
            });
            Assert.DoesNotContain("using ", up.ToString());
        }
        gate.SetResult();
        asyncGate.SetResult();
        await Task.WhenAll(t, overAsyncSource);
    }

    [Fact]
    public async Task Task_Run_and_StartNew_show_the_delegate_method()
    {
        using var release = new ManualResetEventSlim();
        Task run = Branches.RunsBlocking(release);
        Task started = Branches.StartsNew(release);

        LogicalStack runStack = StackExtractor.Extract(run);
        Assert.Equal(LeafKind.DelegateTask, runStack.Leaf!.Kind);
        Assert.StartsWith("Task.Run: void Branches.RunsBlocking(ManualResetEventSlim release)+() => { }", runStack.Leaf.Description);
        Assert.Equal(BranchLines.Line("task-run"), runStack.Frames[0].Location!.Line);
        Assert.StartsWith("Task.Run: void Branches.StartsNew(ManualResetEventSlim release)+() => { }", StackExtractor.Extract(started).Leaf!.Description);

        release.Set();
        await Task.WhenAll(run, started);
    }

    [Fact]
    public async Task Leaves_describe_delay_semaphore_channels_and_timers()
    {
        Task delay = Branches.Delays();
        Assert.Matches(@"^Task\.Delay: \d+ s left$", StackExtractor.Extract(delay).Leaf!.Description);

        var semaphore = new SemaphoreSlim(0, 1);
        Task waiting = Branches.WaitsForLock(semaphore);
        StackLeaf semaphoreLeaf = StackExtractor.Extract(waiting).Leaf!;
        Assert.Equal(LeafKind.SemaphoreWait, semaphoreLeaf.Kind);
        Assert.Equal("SemaphoreSlim.WaitAsync: SemaphoreSlim: 0 of 1 free, 1 waiting, this is waiter #1", semaphoreLeaf.Description);

        Channel<int> unbounded = Channel.CreateUnbounded<int>();
        Task<int> read = Branches.Reads(unbounded.Reader);
        StackLeaf readLeaf = StackExtractor.Extract(read).Leaf!;
        Assert.Equal(LeafKind.Channel, readLeaf.Kind);
        Assert.Equal("channel read waiting for an item on UnboundedChannel<int> (0 items buffered)", readLeaf.Description);

        Channel<int> bounded = Channel.CreateBounded<int>(1);
        Assert.True(bounded.Writer.TryWrite(1));
        Task write = Branches.Writes(bounded.Writer);
        StackLeaf writeLeaf = StackExtractor.Extract(write).Leaf!;
        Assert.Equal(LeafKind.Channel, writeLeaf.Kind);
        Assert.Equal("channel write waiting for room on BoundedChannel<int> (1 of 1 items buffered)", writeLeaf.Description);
        Assert.Equal(BranchLines.Line("channel-write"), StackExtractor.Extract(write).Frames[0].Location!.Line);

        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(1));
        Task ticking = Branches.Ticks(timer);
        StackLeaf timerLeaf = StackExtractor.Extract(ticking).Leaf!;
        Assert.Equal(LeafKind.Timer, timerLeaf.Kind);
        Assert.Matches(@"^PeriodicTimer\.WaitForNextTickAsync \(period 60 s, next tick in \d+ s\)$", timerLeaf.Description);

        semaphore.Release();
        unbounded.Writer.TryWrite(5);
        Assert.True(bounded.Reader.TryRead(out _));
        timer.Dispose();
        await Task.WhenAll(waiting, read, write);
        await ticking;
    }
}

/// <summary>Branch points whose children only upward links reveal: these need tracking, so they run alone.</summary>
[Collection(nameof(TrackingCollection))]
public class RecoveredBranchTests
{
    [Fact]
    public async Task Untyped_WhenAll_children_are_recovered_from_their_continuations_with_tracking()
    {
        var g = new TaskCompletionSource();
        Task without = Branches.AllUntyped(g.Task, g.Task, g.Task);
        Assert.Contains("enable TaskTracking", StackExtractor.Extract(without).Leaf!.Description);

        using TrackingScope tracking = TrackingScope.Enable();
        Task with = Branches.AllUntyped(g.Task, g.Task, g.Task);
        LogicalStack stack = StackExtractor.Extract(with);
        Assert.Equal("Task.WhenAll: 3 pending (found through their continuations)", stack.Leaf!.Description);
        Assert.Equal(3, stack.Children.Count);
        Assert.All(stack.Children, c => Assert.Equal(Where.Line("inner"), Assert.Single(c.Frames).Location!.Line));
        g.SetResult();
        await Task.WhenAll(with, without);
    }

    [Fact]
    public async Task Task_Run_of_an_async_delegate_continues_into_it_with_tracking()
    {
        using TrackingScope tracking = TrackingScope.Enable();
        var gate = new TaskCompletionSource();
        Task t = Branches.RunsAsyncDelegate(gate.Task);
        await WaitUntil(() => StackExtractor.Extract(t).Frames.Any(f => f.Method?.Name == "Worker"));

        LogicalStack stack = StackExtractor.Extract(t);

        Assert.Equal(BranchLines.Line("task-run-async"), stack.Frames[0].Location!.Line);
        Assert.Equal(FrameKind.Combinator, stack.Frames[1].Kind);
        Assert.Contains("Worker", stack.Frames.Select(f => f.Method?.Name));
        Assert.Equal(LeafKind.TaskCompletionSource, stack.Leaf!.Kind);
        gate.SetResult();
        await t;
    }

    [Fact]
    public async Task Parallel_ForEachAsync_shows_its_workers_with_tracking()
    {
        using TrackingScope tracking = TrackingScope.Enable();
        var gate = new TaskCompletionSource();
        Task t = Branches.ForEachInParallel(gate.Task);
        await WaitUntil(() => StackExtractor.Extract(t).Children.Count == 2);

        LogicalStack stack = StackExtractor.Extract(t);

        Assert.Equal(BranchLines.Line("foreach-parallel"), stack.Frames[0].Location!.Line);
        Assert.Equal("Parallel.ForEachAsync: 2 pending (found through their continuations)", stack.Leaf!.Description);
        Assert.All(stack.Children, worker => Assert.Contains(worker.Frames, f => f.DisplayName.Contains("Branches.ForEachInParallel")));
        gate.SetResult();
        await t;
    }

    [Fact]
    public async Task Tracking_adds_children_but_takes_no_combinator_text_or_frame_away()
    {
        var gates = Enumerable.Range(0, 5).Select(_ => new TaskCompletionSource()).ToArray();
        gates[1].SetResult();
        gates[3].SetResult();
        var timeoutGate = new TaskCompletionSource();
        Task<int[]> all;
        Task<int> withTimeout;
        LogicalStack allTracked, timeoutTracked;
        using (TrackingScope.Enable())
        {
            all = Branches.AllOf(gates.Select(g => g.Task).ToArray());
            withTimeout = Branches.WithTimeout(timeoutGate.Task);
            allTracked = StackExtractor.Extract(all);
            timeoutTracked = StackExtractor.Extract(withTimeout);
        }
        LogicalStack allUntracked = StackExtractor.Extract(all);
        LogicalStack timeoutUntracked = StackExtractor.Extract(withTimeout);

        Assert.Equal("Task.WhenAll of 5 tasks, 3 pending", allTracked.Leaf!.Description);
        Assert.Equal(LeafKind.Combinator, allTracked.Leaf.Kind);
        Assert.Equal(3, allTracked.Children.Count);
        Assert.Equal(BranchLines.Line("whenall-of-many"), allTracked.Frames[0].Location!.Line);
        Assert.Equal([FrameKind.Async, FrameKind.Combinator, FrameKind.Async], timeoutTracked.Frames.Select(f => f.Kind));
        Assert.Matches(@"^Task\.WaitAsync \(times out in \d+ s\)$", timeoutTracked.Frames[1].DisplayName);
        // Tracking found nothing the downward links did not: the very same stacks as without it.
        Assert.Equal(Normalized(allUntracked), Normalized(allTracked));
        Assert.Equal(Normalized(timeoutUntracked), Normalized(timeoutTracked));

        foreach (TaskCompletionSource gate in gates.Append(timeoutGate))
        {
            gate.TrySetResult();
        }
        await Task.WhenAll(all, withTimeout);
    }

    /// <summary>A stack's text with the timeout countdown (which moves between two extractions) taken out.</summary>
    private static string Normalized(LogicalStack stack) =>
        System.Text.RegularExpressions.Regex.Replace(stack.ToString(), @"times out in [\d.]+ s", "times out in N s");

    /// <summary>Waits for work queued to the thread pool to reach its await: a condition, polled, never a fixed sleep.</summary>
    internal static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in 10 s");
            await Task.Yield();
        }
    }
}
