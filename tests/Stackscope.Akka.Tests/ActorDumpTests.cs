using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using Stackscope.Glue;
using Stackscope.Tests;
using Xunit.Abstractions;

namespace Stackscope.Akka.Tests;

[CollectionDefinition("akka", DisableParallelization = true)]
public sealed class AkkaCollection;

/// <summary>Dumps of real actor systems (Akka.TestKit), with handlers suspended on gates the tests hold.</summary>
[Collection("akka")]
public sealed class ActorDumpTests : TestKit
{
    private static readonly string Subjects = Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "Actors.cs");
    private readonly ITestOutputHelper _output;

    public ActorDumpTests(ITestOutputHelper output) : base(StackscopeAkka.TimedMailboxConfig, "stacks", output)
    {
        _output = output;
        Sys.UseStackscope();
    }

    internal static int Line(string marker) => SourceLines.Find(Subjects, marker);

    private ActorSystemDump Dump(ActorDumpOptions? options = null)
    {
        ActorSystemDump dump = Sys.CaptureLogicalStacks(options);
        _output.WriteLine(dump.ToString());
        return dump;
    }

    /// <summary>Every frame of a stack, down through Ask links, as (name, line).</summary>
    private static List<(string Name, int? Line)> Flatten(LogicalStack stack)
    {
        var frames = new List<(string, int?)>();
        for (LogicalStack? s = stack; s is not null; s = s.Children.Count == 1 ? s.Children[0] : null)
        {
            frames.AddRange(s.Frames.Select(static f => (f.DisplayName, f.Location?.Line)));
        }
        return frames;
    }

    /// <summary>
    /// Waits until the handler behind <paramref name="gate"/> is suspended on the task it said it awaits: the gate
    /// opens just before the await, and the handler's task and RunTask's callback on it are registered by the await
    /// itself, on the actor's thread. The wait is on that exact state (what the dump reads), bounded, never a guess.
    /// </summary>
    internal static async Task Suspended(Gate gate)
    {
        Task awaited = await gate.Entered.Task;
        Assert.True(SpinWait.SpinUntil(() => Inspection.SystemScan.Climb(awaited) is not null, TimeSpan.FromSeconds(30)), "the handler did not suspend on its await");
    }

    private static IEnumerable<StackError> Errors(LogicalStack stack) =>
        stack.Errors.Concat(stack.Children.SelectMany(Errors)).DistinctBy(static e => e.Message);

    private static LogicalStack Innermost(LogicalStack stack) => stack.Children.Count == 1 ? Innermost(stack.Children[0]) : stack;

    [Fact]
    public async Task Busy_actor_shows_its_message_time_mailbox_and_await_line()
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        var gate = new Gate();
        IActorRef back = Sys.ActorOf(Props.Create(() => new Back(gate)), "back");
        back.Tell(new Work("first"), TestActor);
        await Suspended(gate);
        back.Tell(new Work("second"), TestActor);

        ActorSystemDump dump = Dump();

        ActorDump actor = Assert.IsType<ActorDump>(dump.Find("/user/back"));
        Assert.Equal(ActorActivity.Awaiting, actor.Activity);
        Assert.Equal("Back", actor.ActorTypeName);
        Assert.Equal("Work", actor.Message!.TypeName);
        Assert.Contains("first", actor.Message.Text);
        Assert.NotNull(actor.BusyFor);
        Assert.Equal(1, actor.MailboxCount);
        Assert.Equal("Work", Assert.Single(actor.Queued).TypeName);
        LogicalFrame frame = Assert.Single(actor.Stack!.Frames);
        Assert.Equal(Line("back-await"), frame.Location!.Line);
        Assert.Contains("Back", frame.DisplayName);
        Assert.Equal(LeafKind.TaskCompletionSource, actor.Stack.Leaf!.Kind);
        string text = dump.ToString();
        Assert.Contains("back [Back] BUSY awaiting for ", text);
        Assert.Contains($"Actors.cs:line {Line("back-await")}", text);
        Assert.Contains("mailbox: 1 queued: Work", text);

        gate.Release.SetResult("ok");
        ExpectMsg<string>("ok from back");
    }

    [Fact]
    public async Task Ask_chain_of_three_actors_is_one_stack_with_every_await_line()
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        var (front, gates) = await StartChain();

        ActorSystemDump dump = Dump();

        var frames = Flatten(dump.Find("/user/a")!.Stack!);
        Assert.Equal(
            new int?[] { Line("front-handler"), Line("front-ask"), null, Line("middle-ask"), null, Line("back-await") },
            frames.Select(static f => f.Line).ToArray());
        Assert.Matches(@"^Ask Work → akka://stacks/user/b, processing it \(Middle awaiting in its handler of Work\)$", frames[2].Name);
        Assert.Matches(@"^Ask Work → akka://stacks/user/c, processing it \(Back awaiting in its handler of Work\)$", frames[4].Name);
        Assert.Empty(dump.Deadlocks);

        // Each actor on the way also has its own stack, from its own handler down, and names the actor that asked it:
        // the message's sender is only the Ask's temporary actor.
        Assert.Equal("akka://stacks/user/a", dump.Find("/user/b")!.Message!.AskedBy);
        Assert.Equal("akka://stacks/user/b", dump.Find("/user/c")!.Message!.AskedBy);
        Assert.Null(dump.Find("/user/a")!.Message!.AskedBy); // told by the test, not asked
        Assert.Matches(@" from akka://stacks/user/a \(its Ask akka://stacks/temp/[^)]+\)\n", dump.ToString());
        Assert.Equal(Line("middle-ask"), Flatten(dump.Find("/user/b")!.Stack!)[0].Line);
        Assert.Equal(Line("back-await"), Flatten(dump.Find("/user/c")!.Stack!)[0].Line);

        gates.Back.Release.SetResult("done");
        ExpectMsg<string>("done from back");
        _ = front;
    }

    [Fact]
    public async Task Without_tracking_handlers_are_still_found_upward_from_the_Asks_they_await()
    {
        TaskTracking.Disable();
        var (_, gates) = await StartChain();

        ActorSystemDump dump = Dump();

        Assert.Equal(Line("front-handler"), Flatten(dump.Find("/user/a")!.Stack!)[0].Line);
        Assert.Equal(Line("middle-ask"), Flatten(dump.Find("/user/b")!.Stack!)[0].Line);
        ActorDump back = dump.Find("/user/c")!;
        Assert.Equal(ActorActivity.Awaiting, back.Activity);
        Assert.Null(back.Stack); // C awaits a gate, not an Ask: only tracking finds its task
        Assert.Contains("TaskTracking", back.Note);
        // A's stack still reaches C, and says why it stops there.
        string leaf = Innermost(dump.Find("/user/a")!.Stack!).Leaf!.Description;
        Assert.StartsWith("Ask Work → akka://stacks/user/c, processing it (Back awaiting in its handler of Work; ", leaf);
        Assert.Contains("TaskTracking", leaf);

        gates.Back.Release.SetResult("done");
        ExpectMsg<string>("done from back");
    }

    [Fact]
    public async Task Ask_queued_behind_another_message_says_its_position_and_what_holds_it()
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        var backGate = new Gate();
        IActorRef back = Sys.ActorOf(Props.Create(() => new Back(backGate)), "c");
        back.Tell(new Work("earlier"), TestActor);
        await Suspended(backGate);
        var middleGate = new Gate();
        Sys.ActorOf(Props.Create(() => new Middle(back, middleGate)), "b").Tell(new Work("later"), TestActor);
        await Suspended(middleGate);

        ActorSystemDump dump = Dump();

        var frames = Flatten(dump.Find("/user/b")!.Stack!);
        Assert.Equal(new int?[] { Line("middle-ask"), null, Line("back-await") }, frames.Select(static f => f.Line).ToArray());
        Assert.StartsWith("Ask Work → akka://stacks/user/c: queued at position 1 of 1 in its mailbox, behind Work it is processing", frames[1].Name);
        Assert.Equal("Work", Assert.Single(dump.Find("/user/c")!.Queued).TypeName);

        backGate.Release.SetResult("one");
        ExpectMsg<string>("one from back");
    }

    [Fact]
    public async Task Ask_to_a_stopped_actor_says_the_request_went_to_dead_letters()
    {
        IActorRef victim = Sys.ActorOf(Props.Create(() => new Idle()), "victim");
        Watch(victim);
        Sys.Stop(victim);
        ExpectTerminated(victim);
        var gate = new Gate();
        IActorRef asker = Sys.ActorOf(Props.Create(() => new Asker(gate)), "asker");
        asker.Tell(victim);
        asker.Tell(new Work("lost"));
        await Suspended(gate);

        ActorSystemDump dump = Dump();

        var frames = Flatten(dump.Find("/user/asker")!.Stack!);
        Assert.Equal(Line("asker-ask"), frames[0].Line);
        LogicalStack stack = dump.Find("/user/asker")!.Stack!;
        Assert.Matches(@"^Ask Work → akka://stacks/user/victim: that actor is stopped; the request went to dead letters \d+ ms ago", stack.Leaf!.Description);
    }

    /// <summary>Actors a and b, each asking the other, both suspended: b has asked a, whose mailbox holds the request while a awaits b.</summary>
    private async Task StartAskCycle()
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        var gateA = new Gate();
        var gateB = new Gate();
        IActorRef a = Sys.ActorOf(Props.Create(() => new Asker(gateA)), "a");
        IActorRef b = Sys.ActorOf(Props.Create(() => new Asker(gateB)), "b");
        a.Tell(b);
        b.Tell(a);
        a.Tell(new Work("ping"));
        await Suspended(gateA);
        await Suspended(gateB);
    }

    [Fact]
    public async Task Ask_cycle_is_reported_as_a_deadlock()
    {
        await StartAskCycle();

        ActorSystemDump dump = Dump();

        Deadlock deadlock = Assert.Single(dump.Deadlocks);
        Assert.Equal("Ask cycle", deadlock.Kind);
        Assert.Equal(new[] { "akka://stacks/user/a", "akka://stacks/user/b" }, deadlock.Cycle);
        Assert.Contains("DEADLOCK (Ask cycle): akka://stacks/user/a → akka://stacks/user/b → akka://stacks/user/a", dump.ToString());
        // a's stack goes into b and back to a's mailbox, where extraction stops at the cycle.
        var frames = Flatten(dump.Find("/user/a")!.Stack!);
        Assert.Equal(Line("asker-ask"), frames[0].Line);
        Assert.Contains(frames, f => f.Name.StartsWith("Ask Work → akka://stacks/user/b, processing it", StringComparison.Ordinal));
        Assert.Contains(frames, f => f.Name.StartsWith("Ask Work → akka://stacks/user/a: queued at position 1 of 1", StringComparison.Ordinal));
    }

    [Fact]
    public void Thousand_idle_actors_collapse_to_one_line()
    {
        IActorRef pool = Sys.ActorOf(Props.Create(() => new Pool(1000)), "pool");
        pool.Tell("count", TestActor);
        ExpectMsg(1000);

        ActorSystemDump dump = Dump();

        Assert.Equal(1000, dump.Find("/user/pool")!.Children.Count);
        string[] lines = dump.ToString().Split('\n');
        Assert.Contains(lines, l => l.Contains("pool [Pool] (1000 descendants, all idle)"));
        Assert.DoesNotContain(lines, l => l.Contains("w-0500"));
        Assert.True(lines.Length < 20, $"{lines.Length} lines");

        // The busy-only view lists nothing when nothing is busy; the tree shows the pool folded once it has a busy sibling's depth.
        string busyOnly = Sys.DumpLogicalStacks(new ActorDumpOptions { OnlyBusy = true });
        Assert.DoesNotContain("pool", busyOnly);
    }

    [Fact]
    public async Task Idle_siblings_of_a_busy_actor_fold_into_one_line()
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        IActorRef pool = Sys.ActorOf(Props.Create(() => new Pool(1000)), "pool");
        pool.Tell("count", TestActor);
        ExpectMsg(1000);
        var gate = new Gate();
        Sys.ActorOf(Props.Create(() => new Back(gate)), "back").Tell(new Work("x"), TestActor);
        await Suspended(gate);

        string text = Dump().ToString();

        Assert.Contains("pool [Pool] (1000 descendants, all idle)", text);
        string busyOnly = Sys.DumpLogicalStacks(new ActorDumpOptions { OnlyBusy = true });
        Assert.StartsWith("Actor system \"stacks\": 1 busy of ", busyOnly);
        Assert.Contains("akka://stacks/user/back [Back] BUSY awaiting", busyOnly);
        Assert.DoesNotContain("pool", busyOnly);
        gate.Release.SetResult("x");
    }

    [Fact]
    public async Task Actor_system_and_actor_refs_are_extraction_roots()
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        var (front, gates) = await StartChain();

        LogicalStack fromRef = StackExtractor.Extract(front);
        Assert.StartsWith("actor akka://stacks/user/a (Front awaiting in its handler of Work)", fromRef.Frames[0].DisplayName);
        Assert.True(Flatten(fromRef).Any(f => f.Line == Line("back-await")), fromRef.ToString());

        LogicalStack fromSystem = StackExtractor.Extract(Sys);
        Assert.Equal(3, fromSystem.Children.Count);
        Assert.StartsWith("actor system stacks: 3 busy of ", fromSystem.Leaf!.Description);

        gates.Back.Release.SetResult("done");
        ExpectMsg<string>("done from back");
    }

    [Theory]
    [InlineData(true)]  // the worker is the forwarder's parent: read first, the forwarder last
    [InlineData(false)] // the worker is the forwarder's child: read last
    public async Task Forwarded_Ask_continues_into_the_actor_processing_it_whatever_the_read_order(bool workerIsParent)
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        var backGate = new Gate();
        IActorRef desk;
        string worker;
        if (workerIsParent)
        {
            IActorRef back = Sys.ActorOf(Props.Create(() => new BackWithDesk(backGate)), "back");
            desk = await Child(back, "desk");
            worker = "akka://stacks/user/back";
        }
        else
        {
            desk = Sys.ActorOf(Props.Create(() => new Forwarder(Props.Create(() => new Back(backGate)))), "desk");
            worker = "akka://stacks/user/desk/worker";
        }
        var askerGate = new Gate();
        IActorRef asker = Sys.ActorOf(Props.Create(() => new Asker(askerGate)), "asker");
        asker.Tell(desk);
        asker.Tell(new Work("forwarded"));
        await Suspended(askerGate);
        await Suspended(backGate);
        Assert.True(SpinWait.SpinUntil(() => Cell(desk).CurrentMessage is null, TimeSpan.FromSeconds(30)), "the forwarder did not finish forwarding");

        ActorSystemDump dump = Dump();

        Assert.Equal(ActorActivity.Idle, dump.Find(desk.Path.ToStringWithoutAddress())!.Activity);
        var frames = Flatten(dump.Find("/user/asker")!.Stack!);
        string backAwait = workerIsParent ? "desk-back-await" : "back-await";
        Assert.Equal(new int?[] { Line("asker-ask"), null, Line(backAwait) }, frames.Select(static f => f.Line).ToArray());
        Assert.Equal($"Ask Work → {worker}, processing it ({(workerIsParent ? "BackWithDesk" : "Back")} awaiting in its handler of Work)", frames[1].Name);
        Assert.DoesNotContain("without replying", dump.ToString());

        backGate.Release.SetResult("fwd");
        askerGate.Release.TrySetResult("unused");
    }

    [Fact]
    public async Task Supervisor_that_restarted_a_failed_child_is_idle()
    {
        var restarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        IActorRef supervisor = Sys.ActorOf(Props.Create(() => new Supervisor(restarted)), "supervisor");
        IActorRef fragile = await Child(supervisor, "fragile");
        EventFilter.Exception<InvalidOperationException>().ExpectOne(() => fragile.Tell("boom"));
        await restarted.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // The supervisor has handled Failed once no thread runs its mailbox; nothing is sent to it after that.
        Assert.True(SpinWait.SpinUntil(() => !Scheduled(supervisor) && !Scheduled(fragile), TimeSpan.FromSeconds(30)), "the supervisor's mailbox stayed scheduled");

        ActorSystemDump dump = Dump();

        Assert.Equal(ActorActivity.Idle, dump.Find("/user/supervisor")!.Activity);
        Assert.Equal(ActorActivity.Idle, dump.Find("/user/supervisor/fragile")!.Activity);
        Assert.DoesNotContain(dump.BusyActors, static a => a.Path.Contains("/user/", StringComparison.Ordinal));
        Assert.DoesNotContain("Failed", dump.ToString());
        string busyOnly = Sys.DumpLogicalStacks(new ActorDumpOptions { OnlyBusy = true });
        Assert.DoesNotContain("supervisor", busyOnly);
        Assert.DoesNotContain("Failed", busyOnly);
    }

    [Fact]
    public async Task Ask_whose_target_stopped_while_processing_it_names_the_target()
    {
        var backGate = new Gate();
        IActorRef back = Sys.ActorOf(Props.Create(() => new Back(backGate)), "back");
        var askerGate = new Gate();
        IActorRef asker = Sys.ActorOf(Props.Create(() => new Asker(askerGate)), "asker");
        asker.Tell(back);
        asker.Tell(new Work("doomed"));
        await Suspended(askerGate);
        await Suspended(backGate); // back took the request and awaits in its handler
        Watch(back);
        Sys.Stop(back);
        ExpectTerminated(back);

        ActorSystemDump dump = Dump();

        LogicalStack stack = dump.Find("/user/asker")!.Stack!;
        Assert.Equal(Line("asker-ask"), Assert.Single(stack.Frames).Location!.Line);
        Assert.Matches(@"^Ask Work → akka://stacks/user/back: that actor stopped \d+ ms ago while processing it \(Back awaiting in its handler of Work\); the Ask ends only by its timeout$", stack.Leaf!.Description);
        Assert.DoesNotContain("UseStackscope", dump.ToString());
    }

    [Fact]
    public async Task Idle_actor_with_a_pending_PipeTo_shows_the_piped_tasks_stack()
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        var gate = new Gate();
        IActorRef piper = Sys.ActorOf(Props.Create(() => new Piper(gate, ActorRefs.Nobody)), "piper");
        piper.Tell(new Work("lookup"));
        Task awaited = await gate.Entered.Task;
        Assert.True(SpinWait.SpinUntil(() => Inspection.SystemScan.PipeAbove(awaited) is not null && !Scheduled(piper), TimeSpan.FromSeconds(30)), "the PipeTo did not register");

        ActorSystemDump dump = Dump();

        ActorDump actor = dump.Find("/user/piper")!;
        Assert.Equal(ActorActivity.Idle, actor.Activity);
        ActorPipe pipe = Assert.Single(actor.PendingPipes);
        Assert.Equal("akka://stacks/user/piper", pipe.Recipient);
        LogicalFrame frame = Assert.Single(pipe.Stack.Frames);
        Assert.Equal(Line("piper-await"), frame.Location!.Line);
        Assert.StartsWith("async Task<string> Piper.LookUpAsync(Work work)", frame.DisplayName);
        Assert.Equal(LeafKind.TaskCompletionSource, pipe.Stack.Leaf!.Kind);
        string text = dump.ToString();
        Assert.Contains("piper [Piper] idle, with a pending PipeTo to akka://stacks/user/piper:", text);
        Assert.Contains($"Actors.cs:line {Line("piper-await")}", text);
        gate.Release.SetResult("found");
    }

    [Fact]
    public async Task PipeTo_of_an_Ask_is_found_from_the_Ask_without_tracking()
    {
        TaskTracking.Disable();
        var backGate = new Gate();
        IActorRef back = Sys.ActorOf(Props.Create(() => new Back(backGate)), "back");
        IActorRef piper = Sys.ActorOf(Props.Create(() => new Piper(new Gate(), back)), "piper");
        piper.Tell(new Work("ask"));
        await Suspended(backGate);
        Assert.True(SpinWait.SpinUntil(() => !Scheduled(piper), TimeSpan.FromSeconds(30)), "the piper did not return");

        ActorSystemDump dump = Dump();

        ActorPipe pipe = Assert.Single(dump.Find("/user/piper")!.PendingPipes);
        Assert.Equal("akka://stacks/user/piper", pipe.Recipient);
        Assert.StartsWith("Ask Work → akka://stacks/user/back, processing it (Back awaiting in its handler of Work", pipe.Stack.Leaf!.Description);
        Assert.Contains("piper [Piper] idle, with a pending PipeTo to akka://stacks/user/piper:", dump.ToString());
        backGate.Release.SetResult("x");
    }

    [Fact]
    public async Task Deadlock_notes_name_the_method_not_the_runtime_box()
    {
        await StartAskCycle();

        ActorSystemDump dump = Dump();

        StackError cycle = Assert.Single(Errors(dump.Find("/user/a")!.Stack!), static e => e.Message.StartsWith("cycle", StringComparison.Ordinal));
        Assert.StartsWith("cycle: async Task Asker..ctor(Gate gate)+(Work work) => { } is reached again", cycle.Message);
        Assert.DoesNotContain("AsyncStateMachineBox", dump.ToString());
    }

    [Fact]
    public void All_idle_sibling_subtrees_beyond_the_limit_fold_into_one_line()
    {
        var groups = new List<IActorRef>();
        for (int i = 0; i < 10; i++)
        {
            IActorRef group = Sys.ActorOf(Props.Create(() => new Pool(1)), $"g-{i:00}");
            group.Tell("count", TestActor);
            ExpectMsg(1);
            groups.Add(group);
        }
        Assert.True(SpinWait.SpinUntil(() => groups.All(g => !Scheduled(g)), TimeSpan.FromSeconds(30)));

        string[] lines = Dump().ToString().Split('\n');

        // The first IdleSiblingsShown subtrees one line each, the seven others (and their children) one line together.
        Assert.Contains(lines, static l => l.Contains("g-00 [Pool] (1 descendant, all idle)"));
        Assert.Contains(lines, static l => l.Contains("g-02 [Pool] (1 descendant, all idle)"));
        Assert.Single(lines, static l => l.Contains("+ 7 more idle actors (g-03 … g-09) and their 7 descendants, all idle"));
        Assert.DoesNotContain(lines, static l => l.Contains("g-05"));
        Assert.DoesNotContain(lines, static l => l.Contains("w-0000"));
    }

    /// <summary>A child the parent starts in its constructor: the parent answering Identify has run it.</summary>
    private static async Task<IActorRef> Child(IActorRef parent, string name)
    {
        await parent.Ask<ActorIdentity>(new Identify(name), TimeSpan.FromSeconds(30));
        return Assert.Single(((ActorRefWithCell)parent).Children, c => c.Path.Name == name);
    }

    private static global::Akka.Actor.ActorCell Cell(IActorRef actor) => (global::Akka.Actor.ActorCell)((ActorRefWithCell)actor).Underlying;

    /// <summary>Whether a thread runs (or is about to run) the actor's mailbox.</summary>
    private static bool Scheduled(IActorRef actor) => ((Inspection.AkkaInternals.MailboxStatus(Cell(actor).Mailbox!) ?? 0) & 2) != 0;

    private async Task<(IActorRef Front, (Gate Front, Gate Middle, Gate Back) Gates)> StartChain()
    {
        var gates = (Front: new Gate(), Middle: new Gate(), Back: new Gate());
        IActorRef c = Sys.ActorOf(Props.Create(() => new Back(gates.Back)), "c");
        IActorRef b = Sys.ActorOf(Props.Create(() => new Middle(c, gates.Middle)), "b");
        IActorRef a = Sys.ActorOf(Props.Create(() => new Front(b, gates.Front)), "a");
        a.Tell(new Work("order-1"), TestActor);
        await Suspended(gates.Front);
        await Suspended(gates.Middle);
        await Suspended(gates.Back);
        return (a, gates);
    }
}

/// <summary>A system without the timed mailbox: UseStackscope adds nothing per message, and dumps still work, without "busy for".</summary>
[Collection("akka")]
public sealed class PlainSystemTests : TestKit
{
    private readonly ITestOutputHelper _output;

    public PlainSystemTests(ITestOutputHelper output) : base("akka.loglevel = WARNING", "plain", output) => _output = output;

    [Fact]
    public async Task UseStackscope_leaves_Akkas_own_mailboxes_and_the_dump_omits_only_the_time()
    {
        Sys.UseStackscope(o => o.TrackHandlers = true);
        var gate = new Gate();
        IActorRef back = Sys.ActorOf(Props.Create(() => new Back(gate)), "back");
        back.Tell(new Work("plain"), TestActor);
        await ActorDumpTests.Suspended(gate);

        var cell = (global::Akka.Actor.ActorCell)((ActorRefWithCell)back).Underlying;
        Assert.IsType<global::Akka.Dispatch.MessageQueues.UnboundedMessageQueue>(cell.Mailbox?.MessageQueue);
        ActorSystemDump dump = Sys.CaptureLogicalStacks();
        _output.WriteLine(dump.ToString());
        ActorDump actor = dump.Find("/user/back")!;
        Assert.Null(actor.BusyFor);
        Assert.Equal(ActorActivity.Awaiting, actor.Activity);
        Assert.Equal(ActorDumpTests.Line("back-await"), actor.Stack!.Frames[0].Location!.Line);
        Assert.Contains("back [Back] BUSY awaiting: Work Work { Name = plain }", dump.ToString());
        gate.Release.SetResult("x");
        ExpectMsg<string>("x from back");
    }
}

/// <summary>The README's example, run: a test that times out prints the dump.</summary>
[Collection("akka")]
public sealed class ReadmeExampleTests(ITestOutputHelper output) : TestKit(StackscopeAkka.TimedMailboxConfig, "checkout", output)
{
    [Fact]
    public async Task A_timed_out_Ask_fails_with_the_busy_actors_stacks()
    {
        Sys.UseStackscope(o => o.TrackHandlers = true);
        var gate = new Gate();
        IActorRef back = Sys.ActorOf(Props.Create(() => new Back(gate)), "stock");
        IActorRef front = Sys.ActorOf(Props.Create(() => new Front(back, new Gate())), "checkout");

        var failure = await Assert.ThrowsAsync<Xunit.Sdk.XunitException>(() => Sys.AskOrDump<string>(front, new Work("cart-1"), TimeSpan.FromSeconds(1)));

        Assert.StartsWith("no reply from akka://checkout/user/checkout within 00:00:01:\nActor system \"checkout\": 2 busy of ", failure.Message);
        Assert.Contains("akka://checkout/user/checkout [Front] BUSY awaiting", failure.Message);
        Assert.Contains($"Actors.cs:line {ActorDumpTests.Line("back-await")}", failure.Message);
        gate.Release.SetResult("late");
    }

    [Fact]
    public void Readme_shows_the_example_verbatim()
    {
        string source = File.ReadAllText(Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "ReadmeExample.cs"));
        int start = source.IndexOf("// <readme-example>", StringComparison.Ordinal) + "// <readme-example>".Length;
        string example = source[start..source.IndexOf("// </readme-example>", StringComparison.Ordinal)].Trim();
        string readme = File.ReadAllText(Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "../../README.md"));
        Assert.Contains(example, readme);
    }
}
