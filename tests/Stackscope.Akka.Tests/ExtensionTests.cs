using Akka.Actor;
using Akka.Configuration;

namespace Stackscope.Akka.Tests;

/// <summary>How <see cref="StackscopeAkka.UseStackscope"/> installs itself in a system that is already running.</summary>
[Collection("akka")]
public sealed class ExtensionTests
{
    [Fact]
    public async Task UseStackscope_while_an_actor_of_a_new_type_is_created_on_another_thread_leaves_that_creation_alone()
    {
        // Akka builds an actor type's plugin pipeline once, iterating its list of plugins, when the first actor of that type
        // is created (on a dispatcher thread). UseStackscope adds a plugin to that list. A cluster node starting its own
        // actors met this about one start in six: "Collection was modified", and the actor being created died.
        using ActorSystem system = ActorSystem.Create("extension", ConfigurationFactory.ParseString("akka.loglevel = ERROR"));
        var blocker = new PausingPlugin(typeof(Pong));
        ((ExtendedActorSystem)system).ActorPipelineResolver.Register(blocker);
        IActorRef pong = system.ActorOf(Props.Create(() => new Pong()), "pong");
        Assert.True(blocker.Entered.Wait(TimeSpan.FromSeconds(30)), "the pipeline of Pong was not built");

        system.UseStackscope(); // while the dispatcher thread is inside the plugin list's enumeration
        blocker.Release.Set();

        Assert.Equal("pong", await pong.Ask<string>("ping", TimeSpan.FromSeconds(10)));
    }

    private sealed class Pong : ReceiveActor
    {
        public Pong() => Receive<string>(_ => Sender.Tell("pong"));
    }

    /// <summary>A plugin that holds the thread building <paramref name="target"/>'s pipeline until released.</summary>
    private sealed class PausingPlugin(Type target) : IActorProducerPlugin
    {
        public ManualResetEventSlim Entered { get; } = new();
        public ManualResetEventSlim Release { get; } = new();

        public bool CanBeAppliedTo(Type actorType)
        {
            if (actorType == target)
            {
                Entered.Set();
                Release.Wait(TimeSpan.FromSeconds(30));
            }
            return false;
        }

        public void AfterIncarnated(ActorBase actor, IActorContext context)
        {
        }

        public void BeforeIncarnated(ActorBase actor, IActorContext context)
        {
        }
    }
}
