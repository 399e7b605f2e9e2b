using Acme.Messaging;
using Stackscope.Glue;
using Stackscope.Tests.Subjects;

namespace Stackscope.Tests;

public class GlueTests
{
    [Fact]
    public void Glue_named_by_an_assembly_attribute_is_registered_automatically()
    {
        Assert.Contains(typeof(TestGlue).FullName!, StackscopeGlue.Registered);
        Assert.Contains(typeof(MessagingGlue).FullName!, StackscopeGlue.Registered);
        Assert.Empty(StackscopeGlue.RegistrationErrors);
    }

    [Fact]
    public async Task Glue_hides_frames_and_links_the_stack_the_work_continues_in()
    {
        var workerGate = new TaskCompletionSource();
        var worker = new Worker("b");
        worker.Start(workerGate.Task);
        var reply = new TaskCompletionSource<int>();
        Task<int> asked = GlueSubjects.Outer(worker, reply.Task);

        LogicalStack stack = StackExtractor.Extract(asked);

        // Plumbing is [StackscopeHidden]; HiddenByGlue is hidden by an elaborator.
        Assert.Equal(["Outer", "Dispatch"], stack.Frames.Select(f => f.Method!.Name));
        Assert.Equal([GlueLines.Line("glue-outer"), GlueLines.Line("glue-dispatch")], stack.Frames.Select(f => f.Location!.Line));
        LinkedStack link = Assert.Single(stack.Frames[1].Links);
        Assert.Equal("continues in worker b", link.Label);
        LogicalFrame job = Assert.Single(link.Stack.Frames);
        Assert.Equal("async Task Worker.Job(Task gate)", job.DisplayName);
        Assert.Equal(GlueLines.Line("worker-job"), job.Location!.Line);
        Assert.Contains("↪ continues in worker b", stack.ToString());
        Assert.Empty(stack.Errors);

        workerGate.SetResult();
        reply.SetResult(1);
        await asked;
    }

    [Fact]
    public async Task A_throwing_hook_is_recorded_and_extraction_goes_on()
    {
        var reply = new TaskCompletionSource<int>();
        Task<int> t = GlueSubjects.Explodes(reply.Task);

        LogicalStack stack = StackExtractor.Extract(t);

        Assert.Equal(GlueLines.Line("glue-explodes"), Assert.Single(stack.Frames).Location!.Line);
        Assert.Equal(LeafKind.TaskCompletionSource, stack.Leaf!.Kind);
        StackError error = Assert.Single(stack.Errors);
        Assert.Equal($"glue {typeof(TestGlue).FullName}: frame elaborator threw: this hook is broken", error.Message);
        Assert.Equal(typeof(InvalidOperationException).FullName, error.ExceptionType);
        reply.SetResult(1);
        await t;
    }

    [Fact]
    public void Unwrappers_explain_custom_awaitables_and_a_looping_one_still_terminates()
    {
        LogicalStack ticket = StackExtractor.Extract(GlueSubjects.AwaitsTicket(new Ticket(42)));
        Assert.Equal(LeafKind.Custom, ticket.Leaf!.Kind);
        Assert.Equal("ticket #42 waiting at the counter", ticket.Leaf.Description);
        Assert.Equal(GlueLines.Line("glue-ticket"), ticket.Frames[0].Location!.Line);

        LogicalStack loop = StackExtractor.Extract(GlueSubjects.AwaitsLoop(new LoopAwaitable()));
        Assert.True(loop.IsTruncated);
        Assert.Contains(loop.Errors, e => e.Message.StartsWith("cycle"));
    }

    [Fact]
    public async Task An_unwrapper_continues_a_stack_with_one_read_in_another_process()
    {
        // The "other process": a handler suspended two frames down, its stack carried as JSON as it would cross a wire.
        var gate = new TaskCompletionSource();
        Task handler = Courier.Receive(gate.Task);
        LogicalStack remote = LogicalStack.FromJson(StackExtractor.Extract(handler).ToString(StackFormat.Json));

        var courier = new Courier("node-2") { Remote = remote };
        LogicalStack stack = StackExtractor.Extract(Courier.Send(courier));

        Assert.Equal(["Send", "courier to node-2", "Receive", "Handle"], stack.Frames.Select(f => f.Kind == FrameKind.Combinator ? f.DisplayName : f.MethodName));
        Assert.Equal(
            [GlueLines.Line("glue-courier"), GlueLines.Line("glue-receive"), GlueLines.Line("glue-handle")],
            stack.Frames.Where(f => f.Kind != FrameKind.Combinator).Select(f => f.Location!.Line));
        Assert.Equal(remote.Leaf!.Description, stack.Leaf!.Description);
        Assert.Equal(LeafKind.TaskCompletionSource, stack.Leaf.Kind);
        Assert.Empty(stack.Errors);
        gate.SetResult();
        await handler;
    }

    [Fact]
    public async Task The_readme_example_links_a_request_to_the_handler_of_the_service_it_was_sent_to()
    {
        var slowDisk = new TaskCompletionSource<string>();
        var storage = new Service("storage", _ => slowDisk.Task);
        var frontend = new Service("frontend", request => storage.RequestAsync("read " + request));
        Task<string> reply = frontend.RequestAsync("order 42");
        await RecoveredBranchTests.WaitUntil(() => storage.Current is not null);

        LogicalStack stack = StackExtractor.Extract(reply);

        LogicalFrame request = Assert.Single(stack.Frames);
        Assert.Equal("async Task<string> Service.RequestAsync(string request)", request.DisplayName);
        LinkedStack frontendLink = Assert.Single(request.Links);
        Assert.Equal("continues in service frontend", frontendLink.Label);
        LinkedStack storageLink = Assert.Single(frontendLink.Stack.Frames.Single(f => f.Method?.Name == "RequestAsync").Links);
        Assert.Equal("continues in service storage", storageLink.Label);
        Assert.Equal(LeafKind.TaskCompletionSource, storageLink.Stack.Leaf!.Kind);

        slowDisk.SetResult("ok");
        Assert.Equal("ok", await reply);
    }

    [Fact]
    public void The_readme_shows_the_example_exactly_as_compiled()
    {
        string root = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "..", ".."));
        string readme = File.ReadAllText(Path.Combine(root, "README.md")).ReplaceLineEndings("\n");
        string source = File.ReadAllText(Path.Combine(root, "tests", "Stackscope.Core.Tests", "ReadmeExample.cs")).ReplaceLineEndings("\n");
        int start = source.IndexOf("// <readme-example>\n", StringComparison.Ordinal) + "// <readme-example>\n".Length;
        int end = source.IndexOf("// </readme-example>", StringComparison.Ordinal);
        string example = source[start..end];

        Assert.Contains("```csharp\n" + example + "```", readme);
    }
}

[Collection(nameof(TrackingCollection))]
public class ForestTests
{
    [Fact]
    public async Task A_thousand_identical_chains_form_one_group_of_a_thousand()
    {
        using TrackingScope tracking = TrackingScope.Enable();
        var gate = new TaskCompletionSource();
        List<Task> chains = Enumerable.Range(0, 1000).Select(_ => Chains.Outer(gate.Task)).ToList();
        var otherGate = new TaskCompletionSource();
        Task different = Chains.Middle(otherGate.Task);

        StackForest forest = StackExtractor.ExtractAll();

        Assert.True(forest.FromTracking);
        StackGroup group = forest.Groups[0];
        Assert.Equal(1000, group.Count);
        Assert.Equal(["Outer", "Middle", "Inner"], group.Stack.Frames.Select(f => f.Method!.Name));
        Assert.Equal([Where.Line("outer"), Where.Line("middle"), Where.Line("inner")], group.Stack.Frames.Select(f => f.Location!.Line));
        StackGroup single = Assert.Single(forest.Groups, g => g.Stack.Frames.FirstOrDefault()?.Method?.Name == "Middle");
        Assert.Equal(1, single.Count);
        Assert.Contains("══ 1000 × ══", forest.ToString());

        gate.SetResult();
        otherGate.SetResult();
        await Task.WhenAll(chains);
        await different;
    }

    [Fact]
    public async Task Registry_mode_is_enough_for_the_forest_but_not_for_the_current_thread_junction()
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        try
        {
            Assert.Equal(TaskTrackingMode.Registry, TaskTracking.Mode);
            var gate = new TaskCompletionSource();
            Task chain = Chains.Outer(gate.Task);
            Assert.Contains(StackExtractor.ExtractAll().Groups, g => g.Stack.Frames.FirstOrDefault()?.Method?.Name == "Outer");

            var resume = new TaskCompletionSource();
            Task<LogicalStack> current = Current.AwaitsResumed(resume.Task);
            resume.SetResult();
            LogicalStack stack = await current;
            Assert.Contains(stack.Errors, e => e.Message.Contains("enable TaskTracking in Full mode"));

            gate.SetResult();
            await chain;
        }
        finally
        {
            TaskTracking.Disable();
        }
        Assert.Null(TaskTracking.Mode);
    }

    [Fact]
    public void Without_tracking_the_forest_says_so_and_explicit_roots_work()
    {
        Assert.Contains(StackExtractor.ExtractAll().Errors, e => e.Message.Contains("task tracking is off"));

        var gate = new TaskCompletionSource();
        Task inner = Chains.Inner(gate.Task);
        Task a = Chains.AwaitBoth(inner);
        Task b = Chains.AwaitBoth(inner);
        Task lone = Chains.Outer(gate.Task);

        StackForest forest = StackExtractor.ExtractAll([inner, a, b, lone]);

        Assert.False(forest.FromTracking);
        // inner is awaited by a and b: shown once, as a root of its own with both as its awaiters; their stacks end at it.
        Assert.Equal(4, forest.RootCount);
        StackGroup pair = Assert.Single(forest.Groups, g => g.Count == 2);
        Assert.Equal(["AwaitBoth"], pair.Stack.Frames.Select(f => f.Method!.Name));
        Assert.Equal(LeafKind.Shared, pair.Stack.Leaf!.Kind);
        Assert.StartsWith("async Task Chains.Inner(Task gate), awaited by 2 callers", pair.Stack.Leaf.Description);
        StackGroup shared = Assert.Single(forest.Groups, g => g.Stack.Frames.FirstOrDefault()?.Method?.Name == "Inner");
        Assert.Equal(["AwaitBoth", "AwaitBoth"], shared.Stack.AwaitedBy.Select(caller => caller.Frames.Single().Method!.Name));
        gate.SetResult();
    }

    [Fact]
    public void Operations_awaiting_each_other_in_a_ring_are_a_root_whose_stack_ends_at_the_cycle()
    {
        var gate = new TaskCompletionSource();
        (Task first, Task second) = Ring.Start(gate.Task);
        gate.SetResult(); // each now awaits the other: a deadlock, and neither is a root (each is awaited)

        StackForest forest = StackExtractor.ExtractAll([second, first]);

        // Shown from the member whose name sorts first, whatever the order of the candidates, round the ring to it again.
        StackGroup ring = Assert.Single(forest.Groups);
        Assert.Equal(["First", "Second"], ring.Stack.Frames.Select(f => f.Method!.Name));
        Assert.Equal([Where.Line("ring-first"), Where.Line("ring-second")], ring.Stack.Frames.Select(f => f.Location!.Line));
        Assert.StartsWith("cycle: async Task Ring.First(Task gate, Task[] ring) is reached again through 2 frame(s)", Assert.Single(ring.Stack.Errors).Message);
        Assert.True(ring.Stack.IsTruncated);
        Assert.False(first.IsCompleted || second.IsCompleted);

        // A method awaiting its own task is a ring of one.
        var selfGate = new TaskCompletionSource();
        Task alone = Ring.StartAlone(selfGate.Task);
        selfGate.SetResult();
        StackGroup self = Assert.Single(StackExtractor.ExtractAll([alone]).Groups);
        Assert.Equal([Where.Line("ring-alone")], self.Stack.Frames.Select(f => f.Location!.Line));
        Assert.StartsWith("cycle: async Task Ring.Alone(Task gate, Task[] self) is reached again through 1 frame(s)", Assert.Single(self.Stack.Errors).Message);
    }

    [Fact]
    public async Task A_thread_blocked_on_a_task_continues_into_its_logical_stack()
    {
        var gate = new TaskCompletionSource();
        Task chain = Chains.Outer(gate.Task);
        var blocked = new Thread(() => chain.Wait()) { IsBackground = true, Name = "blocked-on-chain" };
        blocked.Start();
        await RecoveredBranchTests.WaitUntil(() => (StackExtractor.Extract(chain).Frames[0].Flags & FrameFlags.BlockingWait) != 0);

        LogicalStack stack = StackExtractor.Extract(chain);
        Assert.Equal([FrameKind.Sync, FrameKind.Async, FrameKind.Async, FrameKind.Async], stack.Frames.Select(f => f.Kind));
        Assert.StartsWith("a thread blocked waiting synchronously", stack.Frames[0].DisplayName);
        Assert.Equal(["Outer", "Middle", "Inner"], stack.Frames.Skip(1).Select(f => f.Method!.Name));

        StackForest forest = StackExtractor.ExtractAll([chain]);
        Assert.Equal(FrameFlags.BlockingWait, Assert.Single(forest.Groups).Stack.Frames[0].Flags);

        gate.SetResult();
        blocked.Join();
    }
}
