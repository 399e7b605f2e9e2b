using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;
using Xunit.Abstractions;

namespace Stackscope.Akka.Tests;

/// <summary>
/// An Ask across two actor systems over Akka.Remote (both in this process, both on 127.0.0.1 with a free port): the
/// asking system's dump continues into the remote actor's handler when the other system uses Stackscope (read in
/// process), and otherwise says the request went over Akka.Remote and how to follow it.
/// </summary>
[Collection("akka")]
public sealed class RemoteAskTests : TestKit
{
    // retry-gate-closed-for also sets how often the endpoint manager prunes (twice it): pushed out of the tests' way.
    private static readonly Config Remote = ConfigurationFactory.ParseString("""
        akka.actor.provider = remote
        akka.remote.dot-netty.tcp.hostname = 127.0.0.1
        akka.remote.dot-netty.tcp.port = 0
        akka.remote.retry-gate-closed-for = 60 s
        akka.loglevel = WARNING
        """);

    private readonly ITestOutputHelper _output;

    public RemoteAskTests(ITestOutputHelper output) : base(Remote.WithFallback(StackscopeAkka.TimedMailboxConfig), "local", output)
    {
        _output = output;
        Sys.UseStackscope();
    }

    [Fact]
    public async Task Ask_to_an_actor_of_another_system_of_this_process_continues_into_its_handler()
    {
        ActorSystem remote = ActorSystem.Create("remote", Remote).UseStackscope();
        try
        {
            var backGate = new Gate();
            (LogicalStack stack, string path) = await AskRemoteBack(remote, backGate);

            // Worded as for an actor of this system: Back awaits a gate, not an Ask, so without TaskTracking (process-wide, kept
            // off in this suite) its handler is not found; the multi-process suite follows remote handlers with it on.
            Assert.Equal(ActorDumpTests.Line("asker-ask"), Assert.Single(stack.Frames).Location!.Line);
            Assert.Equal($"Ask Work → {path}, processing it (Back awaiting in its handler of Work; {Glue.ActorNotes.HandlerUnknown})", stack.Leaf!.Description);
            backGate.Release.SetResult("far away");
        }
        finally
        {
            await remote.Terminate().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    [Fact]
    public async Task Ask_to_a_remote_actor_out_of_reach_says_it_went_over_Akka_Remote_and_how_to_follow_it()
    {
        ActorSystem remote = ActorSystem.Create("remote", Remote); // without Stackscope: as if in another process
        try
        {
            var backGate = new Gate();
            (LogicalStack stack, _) = await AskRemoteBack(remote, backGate);

            Assert.Equal("Ask → a remote actor: the request went over Akka.Remote (akka://local/system/endpointManager took it); a synchronous dump does not ask other nodes: "
                + "CaptureLogicalStacksAsync and DumpLogicalStacksAsync follow it into the node holding it", stack.Leaf!.Description);

            // Asynchronously, the other nodes of its cluster are asked; these systems are not in one.
            ActorSystemDump dump = await Sys.CaptureLogicalStacksAsync();
            Assert.Equal("Ask → a remote actor: the request went over Akka.Remote (akka://local/system/endpointManager took it); no other node was asked "
                + "(this node is not a member of an Akka.Cluster, whose members are the nodes asked)", dump.Find("/user/asker")!.Stack!.Leaf!.Description);
            backGate.Release.SetResult("far away");
        }
        finally
        {
            await remote.Terminate().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    [Fact]
    public async Task Ask_with_stacks_to_an_actor_of_another_system_times_out_with_the_remote_handlers_stack()
    {
        ActorSystem remote = ActorSystem.Create("remote", Remote).UseStackscope();
        TaskTracking.Enable(TaskTrackingMode.Registry); // the remote handler awaits a gate: found through the task registry
        try
        {
            var gate = new Gate();
            remote.ActorOf(Props.Create(() => new Stock(gate)), "stock");
            Address remoteAddress = ((ExtendedActorSystem)remote).Provider.DefaultAddress;
            IActorRef stock = await Sys.ActorSelection(new RootActorPath(remoteAddress) / "user" / "stock").ResolveOne(TimeSpan.FromSeconds(30));
            Assert.IsType<global::Akka.Remote.RemoteActorRef>(stock);

            // Resolving associated the systems: the request arrives in milliseconds, well within the Ask's 2 s.
            Task<string> ask = stock.AskWithStacks<string>(new Reserve("sku-9"), TimeSpan.FromSeconds(2));
            await ActorDumpTests.Suspended(gate);
            AskTimeoutException timedOut = await Assert.ThrowsAsync<AskTimeoutException>(() => ask.WaitAsync(TimeSpan.FromSeconds(30)));

            _output.WriteLine(timedOut.Message);
            string path = $"akka.tcp://remote@127.0.0.1:{remoteAddress.Port}/user/stock";
            Assert.StartsWith($"Timeout after 2.0 s asking {path} with Reserve; the logical stack of the Ask then:", timedOut.Message);
            Assert.Contains($"Ask Reserve → {path}, processing it (Stock awaiting in its handler of Reserve)", timedOut.Message);
            Assert.Contains($"async Task<string> Stock.ReserveAsync(Reserve reserve) in Actors.cs:line {ActorDumpTests.Line("stock-await")}", timedOut.Message);
            gate.Release.SetResult("late");
        }
        finally
        {
            TaskTracking.Disable();
            await remote.Terminate().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    /// <summary>An asker of this system asks a Back of <paramref name="remote"/>; returns the asker's stack once both handlers are suspended, and Back's remote path.</summary>
    private async Task<(LogicalStack Stack, string BackPath)> AskRemoteBack(ActorSystem remote, Gate backGate)
    {
        remote.ActorOf(Props.Create(() => new Back(backGate)), "back");
        Address remoteAddress = ((ExtendedActorSystem)remote).Provider.DefaultAddress;
        Assert.Equal("127.0.0.1", remoteAddress.Host);
        IActorRef remoteBack = await Sys.ActorSelection(new RootActorPath(remoteAddress) / "user" / "back").ResolveOne(TimeSpan.FromSeconds(30));
        Assert.IsType<global::Akka.Remote.RemoteActorRef>(remoteBack);
        var askerGate = new Gate();
        IActorRef asker = Sys.ActorOf(Props.Create(() => new Asker(askerGate)), "asker");
        asker.Tell(remoteBack);
        asker.Tell(new Work("far"));
        await ActorDumpTests.Suspended(askerGate);
        await ActorDumpTests.Suspended(backGate); // the request arrived: the remote actor awaits in its handler

        ActorSystemDump dump = Sys.CaptureLogicalStacks();
        _output.WriteLine(dump.ToString());
        Assert.DoesNotContain("without replying", dump.ToString());
        return (dump.Find("/user/asker")!.Stack!, $"akka.tcp://remote@127.0.0.1:{remoteAddress.Port}/user/back");
    }
}
