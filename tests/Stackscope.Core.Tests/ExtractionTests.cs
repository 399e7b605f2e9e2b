using System.Threading.Channels;
using Stackscope.Tests.Shared;
using Stackscope.Tests.Subjects;

namespace Stackscope.Tests;

public class DownwardTests
{
    [Fact]
    public async Task Chain_shows_frames_outermost_first_with_await_lines_and_leaf()
    {
        var gate = new TaskCompletionSource();
        Task chain = Chains.Outer(gate.Task);

        LogicalStack stack = StackExtractor.Extract(chain);

        Assert.Equal(
            ["async Task Chains.Outer(Task gate)", "async Task Chains.Middle(Task gate)", "async Task Chains.Inner(Task gate)"],
            stack.Frames.Select(f => f.DisplayName));
        Assert.Equal([Where.Line("outer"), Where.Line("middle"), Where.Line("inner")], stack.Frames.Select(f => f.Location!.Line));
        Assert.All(stack.Frames, f => Assert.Equal("Subjects.cs", f.Location!.FileName));
        Assert.All(stack.Frames, f => Assert.Equal(FrameState.Suspended, f.State));
        Assert.All(stack.Frames, f => Assert.Equal(1, f.AwaitNumber));
        Assert.Equal(FrameFlags.Root, stack.Frames[0].Flags);
        Assert.Equal(LeafKind.TaskCompletionSource, stack.Leaf!.Kind);
        Assert.Equal("TaskCompletionSource.Task", stack.Leaf.Description);
        Assert.Empty(stack.Errors);
        Assert.False(stack.IsTruncated);

        gate.SetResult();
        await chain;
    }

    [Fact]
    public async Task A_suspended_frame_with_nothing_of_its_own_is_made_once_and_shared_but_one_holding_a_resource_is_not()
    {
        var gate = new TaskCompletionSource();
        Task chain = Chains.Outer(gate.Task);
        Task holding = Resources.UsingBlock(gate.Task);

        LogicalStack first = StackExtractor.Extract(chain), second = StackExtractor.Extract(chain);
        LogicalFrame firstHolding = StackExtractor.Extract(holding).Frames[0], secondHolding = StackExtractor.Extract(holding).Frames[0];

        // Middle and Inner: immutable frames, the same objects every time (an extraction allocates no frame for them).
        Assert.Same(first.Frames[1], second.Frames[1]);
        Assert.Same(first.Frames[2], second.Frames[2]);
        // The root frame carries its Root flag, and a frame holding a resource its own list: made for each extraction.
        Assert.Equal(FrameFlags.Root, first.Frames[0].Flags);
        Assert.NotSame(first.Frames[0], second.Frames[0]);
        Assert.NotSame(firstHolding, secondHolding);
        Assert.Single(secondHolding.Resources);

        gate.SetResult();
        await chain;
        await holding;
    }

    [Fact]
    public async Task State_number_selects_the_await_the_method_is_suspended_at()
    {
        var approval = new TaskCompletionSource<bool>();
        var service = new OrderService(new PaymentGateway(approval.Task));
        Task<int> placed = service.PlaceAsync(new Order(42, 9.5m));

        LogicalStack stack = StackExtractor.Extract(placed);

        LogicalFrame place = stack.Frames[0];
        Assert.Equal("async Task<int> OrderService.PlaceAsync(Order order)", place.DisplayName);
        Assert.Equal(2, place.AwaitNumber); // "await Task.CompletedTask" is await #1, even though it did not suspend
        Assert.Equal(Where.Line("place"), place.Location!.Line);
        Assert.Equal(typeof(OrderService).GetMethod(nameof(OrderService.PlaceAsync)), place.Method);
        Assert.Equal("async Task<bool> PaymentGateway.ChargeAsync(decimal amount)", stack.Frames[1].DisplayName);
        Assert.Equal(Where.Line("charge"), stack.Frames[1].Location!.Line);
        Assert.Equal("TaskCompletionSource<bool>.Task", stack.Leaf!.Description);

        approval.SetResult(true);
        Assert.Equal(42, await placed);
    }

    [Fact]
    public async Task ConfigureAwait_false_is_followed()
    {
        var approval = new TaskCompletionSource<bool>();
        Task<int> placed = new OrderService(new PaymentGateway(approval.Task)).PlaceWithoutContextAsync(new Order(1, 1m));

        LogicalStack stack = StackExtractor.Extract(placed);

        Assert.Equal(["PlaceWithoutContextAsync", "ChargeAsync"], stack.Frames.Select(f => f.Method!.Name));
        Assert.Equal(Where.Line("place-noctx"), stack.Frames[0].Location!.Line);
        Assert.Equal(LeafKind.TaskCompletionSource, stack.Leaf!.Kind);

        approval.SetResult(true);
        await placed;
    }

    [Fact]
    public async Task Generic_methods_show_their_type_arguments()
    {
        var gate = new TaskCompletionSource();
        Task<string> t = Chains.Generic("x", gate.Task);

        LogicalFrame frame = Assert.Single(StackExtractor.Extract(t).Frames);

        Assert.Equal("async Task<string> Chains.Generic<string>(string value, Task gate)", frame.DisplayName);
        Assert.Equal(Where.Line("generic"), frame.Location!.Line);
        gate.SetResult();
        await t;
    }

    [Fact]
    public async Task Lambdas_and_local_functions_are_named_after_their_method()
    {
        var gate = new TaskCompletionSource();
        Task lambda = Chains.WithLambda(gate.Task);
        Task local = Chains.WithLocalFunction(gate.Task);

        LogicalFrame lambdaFrame = Assert.Single(StackExtractor.Extract(lambda).Frames);
        LogicalFrame localFrame = Assert.Single(StackExtractor.Extract(local).Frames);

        Assert.Equal("async Task Chains.WithLambda(Task gate)+(int x) => { }", lambdaFrame.DisplayName);
        Assert.Equal(Where.Line("lambda"), lambdaFrame.Location!.Line);
        Assert.Equal("async Task Chains.WithLocalFunction(Task gate)+Local(int count)", localFrame.DisplayName);
        Assert.Equal(Where.Line("local"), localFrame.Location!.Line);
        gate.SetResult();
        await Task.WhenAll(lambda, local);
    }

    [Fact]
    public async Task Leaves_are_described_by_kind()
    {
        Task delay = Chains.Delays();
        var semaphore = new SemaphoreSlim(0);
        Task waiting = Chains.WaitsOnSemaphore(semaphore);
        var custom = new GateAwaitable();
        Task awaitingCustom = Chains.AwaitsCustom(custom);

        var context = new HoldingContext();
        Task yielding = context.Start(Chains.Yields);

        Assert.Equal(LeafKind.Delay, StackExtractor.Extract(delay).Leaf!.Kind);
        Assert.Equal(Where.Line("delay"), StackExtractor.Extract(delay).Frames[0].Location!.Line);
        Assert.Equal(LeafKind.SemaphoreWait, StackExtractor.Extract(waiting).Leaf!.Kind);
        Assert.Equal(Where.Line("semaphore"), StackExtractor.Extract(waiting).Frames[0].Location!.Line);

        LogicalStack yieldStack = StackExtractor.Extract(yielding);
        Assert.Equal(LeafKind.Yield, yieldStack.Leaf!.Kind);
        Assert.Equal(Where.Line("yield"), yieldStack.Frames[0].Location!.Line);

        LogicalStack customStack = StackExtractor.Extract(awaitingCustom);
        Assert.Equal(LeafKind.Unknown, customStack.Leaf!.Kind);
        Assert.Equal("awaiting GateAwaitable.Awaiter", customStack.Leaf.Description);
        Assert.Equal(Where.Line("custom"), customStack.Frames[0].Location!.Line);

        semaphore.Release();
        custom.Release();
        context.RunAll();
        await Task.WhenAll(waiting, awaitingCustom, yielding);
    }

    [Fact]
    public async Task Completed_faulted_and_canceled_tasks_report_their_state()
    {
        var gate = new TaskCompletionSource();
        using var cts = new CancellationTokenSource();
        Task completed = Chains.Inner(gate.Task);
        Task faulted = Chains.Throws(gate.Task);
        Task canceled = Chains.Cancels(gate.Task, cts.Token);
        cts.Cancel();
        gate.SetResult();
        await completed;
        await Assert.ThrowsAsync<InvalidOperationException>(() => faulted);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => canceled);

        LogicalStack done = StackExtractor.Extract(completed);
        Assert.Equal(FrameState.Completed, Assert.Single(done.Frames).State);
        Assert.Null(done.Leaf);

        LogicalStack fault = StackExtractor.Extract(faulted);
        Assert.Equal(FrameState.Faulted, Assert.Single(fault.Frames).State);
        Assert.Equal(LeafKind.Faulted, fault.Leaf!.Kind);
        Assert.Contains("InvalidOperationException: boom", fault.Leaf.Description);

        Assert.Equal(FrameState.Canceled, Assert.Single(StackExtractor.Extract(canceled).Frames).State);
    }

    [Fact]
    public void Tasks_made_completed_are_described_for_what_they_are_not_as_TaskCompletionSource_tasks()
    {
        var canceled = new CancellationToken(canceled: true);
        (LogicalStack Stack, LeafKind Kind, string Description)[] cases =
        [
            (StackExtractor.Extract(Task.CompletedTask), LeafKind.Completed, "Task.CompletedTask (completed)"),
            (StackExtractor.Extract(Task.FromResult(42)), LeafKind.Completed, "Task<int> (completed)"),
            (StackExtractor.Extract(Task.FromException(new InvalidOperationException("boom"))), LeafKind.Faulted, "Task (faulted: InvalidOperationException: boom)"),
            (StackExtractor.Extract(Task.FromCanceled(canceled)), LeafKind.Canceled, "Task (canceled)"),
            (StackExtractor.Extract(ValueTask.FromCanceled<int>(canceled)), LeafKind.Canceled, "Task<int> (canceled)"),
        ];

        Assert.All(cases, c =>
        {
            Assert.Empty(c.Stack.Frames);
            Assert.Equal((c.Kind, c.Description), (c.Stack.Leaf!.Kind, c.Stack.Leaf.Description));
        });
    }

    [Fact]
    public async Task A_resource_standing_for_a_completed_task_shows_it_as_canceled_completed_or_faulted()
    {
        var gate = new TaskCompletionSource();
        Task canceledJob = JobSubjects.HoldsJob(new Job("a", Task.FromCanceled(new CancellationToken(canceled: true))), gate.Task);
        Task doneJob = JobSubjects.HoldsJob(new Job("b", Task.CompletedTask), gate.Task);
        Task faultedJob = JobSubjects.HoldsJob(new Job("c", Task.FromException(new TimeoutException("late"))), gate.Task);

        HeldResource[] held = [.. new[] { canceledJob, doneJob, faultedJob }.Select(t => Assert.Single(StackExtractor.Extract(t).Frames[0].Resources))];

        Assert.All(held, r => Assert.Equal(("held", GlueLines.Line("job-held")), (r.Name, r.Location!.Line)));
        Assert.Equal(
            [(LeafKind.Canceled, "Task (canceled)"), (LeafKind.Completed, "Task.CompletedTask (completed)"), (LeafKind.Faulted, "Task (faulted: TimeoutException: late)")],
            held.Select(r => (r.InnerStack!.Leaf!.Kind, r.InnerStack.Leaf.Description)));
        gate.SetResult();
        await Task.WhenAll(canceledJob, doneJob, faultedJob);
    }

    [Fact]
    public async Task Depth_limit_cuts_the_stack_and_says_so()
    {
        var gate = new TaskCompletionSource();
        Task deep = Chains.Deep(50, gate.Task);

        LogicalStack full = StackExtractor.Extract(deep);
        LogicalStack cut = StackExtractor.Extract(deep, new ExtractOptions { MaxDepth = 10 });

        Assert.Equal(50, full.Frames.Count);
        Assert.False(full.IsTruncated);
        Assert.Equal(10, cut.Frames.Count);
        Assert.True(cut.IsTruncated);
        Assert.Contains(cut.Errors, e => e.Message.Contains("depth limit of 10"));
        gate.SetResult();
        await deep;
    }

    [Fact]
    public void Await_cycle_terminates_and_is_reported()
    {
        var first = new TaskCompletionSource<Task>();
        var second = new TaskCompletionSource<Task>();
        Task a = Chains.AwaitTaskOfTask(first.Task);
        Task b = Chains.AwaitTaskOfTask(second.Task);
        first.SetResult(b);
        second.SetResult(a); // a awaits b, b awaits a: neither can ever finish

        LogicalStack stack = StackExtractor.Extract(a);

        Assert.True(stack.IsTruncated);
        // The notes (walking down and up) name the method met again as its frames are named, not the runtime's box type.
        Assert.Equal(2, stack.Errors.Count(e => e.Message.StartsWith("cycle: ", StringComparison.Ordinal)));
        Assert.All(stack.Errors, e => Assert.StartsWith($"cycle: {stack.Frames[0].DisplayName} is ", e.Message));
        Assert.All(stack.Frames, f => Assert.Equal(Where.Line("cycle"), f.Location!.Line));
    }
}

public class UpwardTests
{
    [Fact]
    public async Task From_the_leaf_the_awaiting_callers_are_found()
    {
        var approval = new TaskCompletionSource<bool>();
        Task<int> placed = new OrderService(new PaymentGateway(approval.Task)).PlaceAsync(new Order(7, 3m));

        LogicalStack stack = StackExtractor.Extract(approval.Task);

        Assert.Equal(["PlaceAsync", "ChargeAsync"], stack.Frames.Select(f => f.Method!.Name));
        Assert.Equal([Where.Line("place"), Where.Line("charge")], stack.Frames.Select(f => f.Location!.Line));
        Assert.Equal(LeafKind.TaskCompletionSource, stack.Leaf!.Kind);
        Assert.Empty(stack.AwaitedBy);

        approval.SetResult(true);
        await placed;
    }

    [Fact]
    public async Task From_a_middle_frame_callers_are_above_and_callees_below()
    {
        var gate = new TaskCompletionSource();
        Task middle = Chains.Middle(gate.Task);
        Task outer = Chains.AwaitBoth(middle);

        LogicalStack stack = StackExtractor.Extract(middle);

        Assert.Equal(["AwaitBoth", "Middle", "Inner"], stack.Frames.Select(f => f.Method!.Name));
        Assert.Equal([FrameFlags.None, FrameFlags.Root, FrameFlags.None], stack.Frames.Select(f => f.Flags));
        Assert.Equal([Where.Line("awaiter"), Where.Line("middle"), Where.Line("inner")], stack.Frames.Select(f => f.Location!.Line));
        gate.SetResult();
        await outer;
    }

    [Fact]
    public async Task A_task_awaited_by_two_callers_forks_into_a_tree()
    {
        var gate = new TaskCompletionSource();
        Task shared = Chains.Inner(gate.Task);
        Task first = Chains.AwaitBoth(shared);
        Task second = Chains.AwaitBoth(shared);

        LogicalStack stack = StackExtractor.Extract(shared);

        Assert.Equal("Inner", Assert.Single(stack.Frames).Method!.Name);
        Assert.Equal(2, stack.AwaitedBy.Count);
        Assert.All(stack.AwaitedBy, caller =>
        {
            LogicalFrame f = Assert.Single(caller.Frames);
            Assert.Equal("async Task Chains.AwaitBoth(Task shared)", f.DisplayName);
            Assert.Equal(Where.Line("awaiter"), f.Location!.Line);
        });
        Assert.Contains("awaited by 2 callers", stack.ToString());

        gate.SetResult();
        await Task.WhenAll(first, second);
    }

    [Fact]
    public async Task ValueTask_over_an_IValueTaskSource_is_walked_both_ways()
    {
        var source = new ManualSource();
        Task<int> consumer = ValueTasks.ConsumeAsync(source);

        LogicalStack up = StackExtractor.Extract(source);
        Assert.Equal(["ConsumeAsync", "ReadAsync"], up.Frames.Select(f => f.Method!.Name));
        Assert.Equal("async ValueTask<int> ValueTasks.ReadAsync(ManualSource source)", up.Frames[1].DisplayName);
        Assert.Equal([Where.Line("vts-consumer"), Where.Line("vts")], up.Frames.Select(f => f.Location!.Line));
        Assert.Equal(LeafKind.ValueTaskSource, up.Leaf!.Kind);
        Assert.Equal("IValueTaskSource ManualSource", up.Leaf.Description);

        LogicalStack down = StackExtractor.Extract(consumer);
        Assert.Equal(["ConsumeAsync", "ReadAsync"], down.Frames.Select(f => f.Method!.Name));
        Assert.Equal(LeafKind.ValueTaskSource, down.Leaf!.Kind);

        source.Complete(5);
        Assert.Equal(5, await consumer);
    }

    [Fact]
    public async Task Pooling_ValueTask_boxes_are_walked_both_ways()
    {
        var source = new ManualSource();
        ValueTask<int> pooled = ValueTasks.PooledAsync(source);

        LogicalStack direct = StackExtractor.Extract(pooled);
        Assert.Equal("async ValueTask<int> ValueTasks.PooledAsync(ManualSource source)", Assert.Single(direct.Frames).DisplayName);
        Assert.Equal(Where.Line("pooled"), direct.Frames[0].Location!.Line);

        Task<int> consumer = AwaitPooled(pooled);
        LogicalStack up = StackExtractor.Extract(source);
        Assert.Equal(["AwaitPooled", "PooledAsync"], up.Frames.Select(f => f.Method!.Name));

        source.Complete(3);
        Assert.Equal(3, await consumer);
    }

    private static async Task<int> AwaitPooled(ValueTask<int> pooled) => await pooled;

    [Fact]
    public async Task Await_continuations_on_a_captured_SynchronizationContext_are_followed()
    {
        var gate = new TaskCompletionSource();
        var context = new HoldingContext();
        Task chain = context.Start(() => Chains.Inner(gate.Task)); // registers a SynchronizationContextAwaitTaskContinuation on the gate

        LogicalStack stack = StackExtractor.Extract(gate.Task);

        Assert.Equal("Inner", Assert.Single(stack.Frames).Method!.Name);
        Assert.Equal(Where.Line("inner"), stack.Frames[0].Location!.Line);

        gate.SetResult();
        context.RunAll();
        await chain;
    }

    [Fact]
    public async Task ContinueWith_and_WhenAll_appear_as_combinators_between_caller_and_task()
    {
        var gate = new TaskCompletionSource();
        Task viaContinuation = Chains.AwaitsContinuation(gate.Task);
        var other = new TaskCompletionSource();
        Task viaWhenAll = Chains.AwaitsAll(gate.Task, other.Task);

        LogicalStack stack = StackExtractor.Extract(gate.Task);

        Assert.Empty(stack.Frames);
        Assert.Equal(2, stack.AwaitedBy.Count);
        LogicalStack continuation = stack.AwaitedBy.Single(s => s.Frames[0].Method?.Name == "AwaitsContinuation");
        Assert.Equal([FrameKind.Async, FrameKind.Combinator], continuation.Frames.Select(f => f.Kind));
        Assert.StartsWith("ContinueWith: ", continuation.Frames[1].DisplayName);
        Assert.Equal(Where.Line("continuewith"), continuation.Frames[0].Location!.Line);
        LogicalStack whenAll = stack.AwaitedBy.Single(s => s.Frames[0].Method?.Name == "AwaitsAll");
        Assert.Equal(["AwaitsAll", null], whenAll.Frames.Select(f => f.Method?.Name));
        Assert.Equal("Task.WhenAll", whenAll.Frames[1].DisplayName);
        Assert.Equal(Where.Line("whenall"), whenAll.Frames[0].Location!.Line);

        // Downward, the runtime keeps no reference from WhenAll to its tasks: the leaf says so.
        Assert.Equal(LeafKind.Combinator, StackExtractor.Extract(viaWhenAll).Leaf!.Kind);
        Assert.Equal(LeafKind.DelegateTask, StackExtractor.Extract(viaContinuation).Leaf!.Kind);

        gate.SetResult();
        other.SetResult();
        await Task.WhenAll(viaContinuation, viaWhenAll);
    }

    [Fact]
    public async Task A_state_machine_object_is_a_stack_item_too()
    {
        var gate = new TaskCompletionSource();
        Task chain = Chains.Middle(gate.Task);
        // The box's StateMachine field holds the IAsyncStateMachine (a class in Debug builds, a struct in Release).
        object stateMachine = chain.GetType().GetField("StateMachine")!.GetValue(chain)!;
        Assert.IsAssignableFrom<System.Runtime.CompilerServices.IAsyncStateMachine>(stateMachine);

        LogicalStack stack = StackExtractor.Extract(stateMachine);

        Assert.Equal(["Middle", "Inner"], stack.Frames.Select(f => f.Method!.Name));
        Assert.Equal(Where.Line("middle"), stack.Frames[0].Location!.Line);
        gate.SetResult();
        await chain;
    }
}

public class IteratorTests
{
    [Fact]
    public async Task Async_iterator_consumer_continues_into_the_iterator()
    {
        var gate = new TaskCompletionSource();
        Task<int> sum = Iterators.SumAsync(gate.Task);

        LogicalStack stack = StackExtractor.Extract(sum);

        Assert.Equal(["async Task<int> Iterators.SumAsync(Task gate)", "async IAsyncEnumerable<int> Iterators.Numbers(Task gate)"],
            stack.Frames.Select(f => f.DisplayName));
        Assert.Equal([FrameKind.Async, FrameKind.AsyncIterator], stack.Frames.Select(f => f.Kind));
        Assert.Equal([Where.Line("aconsumer"), Where.Line("aawait")], stack.Frames.Select(f => f.Location!.Line));
        Assert.Equal(LeafKind.TaskCompletionSource, stack.Leaf!.Kind);

        // Up from the gate: through the iterator's own box, then its consumer.
        LogicalStack up = StackExtractor.Extract(gate.Task);
        Assert.Equal(["SumAsync", "Numbers"], up.Frames.Select(f => f.Method!.Name));

        gate.SetResult();
        Assert.Equal(3, await sum);
    }

    [Fact]
    public async Task Async_iterator_suspended_at_yield_waits_for_its_consumer()
    {
        var gate = new TaskCompletionSource();
        IAsyncEnumerator<int> e = Iterators.Numbers(gate.Task).GetAsyncEnumerator();
        Assert.True(await e.MoveNextAsync());

        LogicalStack stack = StackExtractor.Extract(e);

        LogicalFrame frame = Assert.Single(stack.Frames);
        Assert.Equal(FrameKind.AsyncIterator, frame.Kind);
        Assert.Equal(1, frame.YieldNumber);
        Assert.Null(frame.AwaitNumber);
        Assert.Equal(Where.Line("ayield"), frame.Location!.Line);
        Assert.Equal(LeafKind.IteratorYield, stack.Leaf!.Kind);
        await e.DisposeAsync();
    }

    [Fact]
    public void Sync_iterator_continues_into_the_iterator_it_enumerates()
    {
        using IEnumerator<int> e = Iterators.Outer().GetEnumerator();
        Assert.True(e.MoveNext());
        Assert.True(e.MoveNext());

        LogicalStack stack = StackExtractor.Extract(e);

        Assert.Equal(["IEnumerable<int> Iterators.Outer()", "IEnumerable<int> Iterators.Inner()"], stack.Frames.Select(f => f.DisplayName));
        Assert.All(stack.Frames, f => Assert.Equal(FrameKind.Iterator, f.Kind));
        Assert.Equal([Where.Line("syield-outer"), Where.Line("syield-inner")], stack.Frames.Select(f => f.Location!.Line));
        Assert.Equal([2, 1], stack.Frames.Select(f => f.YieldNumber!.Value));
        Assert.Equal(LeafKind.IteratorYield, stack.Leaf!.Kind);
    }

    [Fact]
    public async Task Framework_code_without_a_pdb_still_shows_method_and_state()
    {
        Channel<int> channel = Channel.CreateUnbounded<int>();
        IAsyncEnumerator<int> e = channel.Reader.ReadAllAsync().GetAsyncEnumerator();
        ValueTask<bool> next = e.MoveNextAsync();

        LogicalStack stack = StackExtractor.Extract(e);

        LogicalFrame frame = Assert.Single(stack.Frames);
        Assert.Equal("async IAsyncEnumerable<int> ChannelReader<int>.ReadAllAsync(CancellationToken cancellationToken)", frame.DisplayName);
        Assert.Equal(FrameState.Suspended, frame.State);
        Assert.NotNull(frame.AwaitNumber);
        Assert.Null(frame.Location);
        Assert.Equal(LeafKind.Channel, stack.Leaf!.Kind);
        Assert.Equal("channel read waiting for an item on UnboundedChannel<int> (0 items buffered)", stack.Leaf.Description);

        channel.Writer.Complete();
        Assert.False(await next);
    }
}

public class SwitchExpressionTests
{
    [Fact]
    public async Task An_await_in_either_arm_of_a_switch_expression_is_reported_at_its_own_line()
    {
        var first = new TaskCompletionSource<int>();
        var second = new TaskCompletionSource<int>();
        Task<int> inFirst = Switches.AwaitInArm(0, first.Task, second.Task);
        Task<int> inSecond = Switches.AwaitInArm(1, first.Task, second.Task);

        LogicalFrame firstFrame = Assert.Single(StackExtractor.Extract(inFirst).Frames);
        LogicalFrame secondFrame = Assert.Single(StackExtractor.Extract(inSecond).Frames);

        Assert.Equal([1, 2], new[] { firstFrame.AwaitNumber, secondFrame.AwaitNumber });
        Assert.Equal([Where.Line("switch-arm-first"), Where.Line("switch-arm-second")], new[] { firstFrame.Location!.Line, secondFrame.Location!.Line });
        first.SetResult(1);
        second.SetResult(2);
        int[] results = await Task.WhenAll(inFirst, inSecond);
        Assert.Equal([1, 2], results);
    }
}

public class ExplicitInterfaceTests
{
    [Fact]
    public async Task Explicit_interface_implementations_are_named_without_the_interface_namespace()
    {
        var gate = new TaskCompletionSource();
        var store = new Store(gate.Task);
        Task<int> get = ((IStore)store).GetAsync(5);
        Task<string> find = ((IRepository<string>)store).FindAsync("k");

        LogicalFrame getFrame = Assert.Single(StackExtractor.Extract(get).Frames);
        LogicalStack findStack = StackExtractor.Extract(find);

        Assert.Equal(
            [
                "async Task<int> Store.IStore.GetAsync(int id)",
                "async Task<string> Store.IRepository<string>.FindAsync(string key)",
                "async Task Store.IRepository<string>.FindAsync(string key)+() => { }",
            ],
            findStack.Frames.Select(f => f.DisplayName).Prepend(getFrame.DisplayName));
        Assert.Equal(Where.Line("explicit-impl"), getFrame.Location!.Line);
        Assert.Equal([Where.Line("explicit-impl-generic"), Where.Line("explicit-impl-lambda")], findStack.Frames.Select(f => f.Location!.Line));
        gate.SetResult();
        Assert.Equal(5, await get);
        Assert.Equal("k", await find);
    }
}
