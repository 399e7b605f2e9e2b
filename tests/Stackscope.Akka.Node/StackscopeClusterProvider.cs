using Akka.Actor;
using Akka.Actor.Internal;
using Akka.Cluster;
using Akka.Event;
using Stackscope.Akka.Setup;

namespace Stackscope.Akka.Node;

/// <summary>
/// Akka.Cluster's provider, loading Stackscope's extension just before the cluster starts (<c>akka.actor.provider</c> names
/// it in place of <c>cluster</c>). The extension registers an actor-producer plugin, and Akka's plugin list is not safe to
/// change while another thread creates an actor of a type not created before: loaded after the provider (from
/// <c>akka.extensions</c>, or by <c>UseStackscope</c> once the system runs) it raced the cluster's daemons starting on
/// other threads, and about one start in six failed ("Collection was modified" creating /system/cluster, the system
/// terminated). Here it is loaded on the thread that starts the system, after remoting and before the cluster.
/// </summary>
public sealed class StackscopeClusterProvider(string systemName, Settings settings, EventStream eventStream)
    : ClusterActorRefProvider(systemName, settings, eventStream)
{
    protected override IActorRef CreateRemoteWatcher(ActorSystemImpl system)
    {
        system.RegisterExtension(new StackscopeAkkaExtensionProvider());
        return base.CreateRemoteWatcher(system);
    }
}
