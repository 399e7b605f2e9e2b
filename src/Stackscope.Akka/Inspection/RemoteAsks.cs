using Akka.Actor;
using Stackscope.Glue;

namespace Stackscope.Akka.Inspection;

/// <summary>
/// Asks sent to actors of other actor systems over Akka.Remote. Once the asking system's endpoint writer has put
/// the request on the wire, nothing in that system keeps the recipient (the Ask's temporary actor does not, and
/// the endpoint manager that took the request keeps only its last sender); the remote actor sees the Ask's
/// temporary actor, with the asking system's address, as its sender. That path is the Ask's key: the other members
/// of a cluster are asked who holds it (<see cref="Remote.NodeService"/>), and the other systems of this process that
/// use Stackscope (<see cref="StackscopeAkka.UseStackscope"/>) are read for it directly.
/// </summary>
internal static class RemoteAsks
{
    private static readonly List<WeakReference<ActorSystem>> s_systems = new();

    /// <summary>Remembers (weakly) a system that uses Stackscope, as a place remote Asks of other systems may have gone.</summary>
    public static void Register(ActorSystem system)
    {
        lock (s_systems)
        {
            s_systems.RemoveAll(static w => !w.TryGetTarget(out _));
            s_systems.Add(new WeakReference<ActorSystem>(system));
        }
    }

    /// <summary>Whether <paramref name="actor"/> is Akka.Remote's endpoint manager, which every message to a remote actor passes through.</summary>
    public static bool IsRemoting(ActorState actor) => actor.Cell.Props?.Type?.FullName == "Akka.Remote.EndpointManager";

    /// <summary>Whether <paramref name="system"/> can send to other systems (its provider has a global address).</summary>
    public static bool CanSendRemotely(ActorSystem system) =>
        system is ExtendedActorSystem extended && extended.Provider.DefaultAddress is { HasGlobalScope: true };

    /// <summary>
    /// The key of <paramref name="ask"/> when its request left <paramref name="asking"/>'s system over Akka.Remote: its
    /// temporary actor's path with the system's address. Null when an actor of the system holds the request, when it went
    /// to dead letters or its target stopped, or when the system cannot send remotely.
    /// </summary>
    public static string? KeyOf(SystemScan asking, Task ask)
    {
        if (ask.IsCompleted || asking.System is not ExtendedActorSystem extended || !CanSendRemotely(asking.System)
            || asking.TargetOf(ask) is { } local && !IsRemoting(local.Target)
            || Setup.DeadLetterAsks.Find(ask) is not null || Setup.StoppedAsks.Find(ask) is not null)
        {
            return null;
        }
        return AskPath(ask)?.ToStringWithAddress(extended.Provider.DefaultAddress);
    }

    /// <summary>An actor's path with its system's address (<c>akka.tcp://orders@127.0.0.1:4053/user/stock</c>), as other nodes name it.</summary>
    public static string FullPath(SystemScan scan, ActorState state) =>
        scan.System is ExtendedActorSystem extended ? state.Self.Path.ToStringWithAddress(extended.Provider.DefaultAddress) : state.Dump.Path;

    /// <summary>The actor of another Stackscope system of this process holding the request of <paramref name="ask"/>, with its full path, if any.</summary>
    public static (AskTarget Target, string Path)? Find(SystemScan asking, Task ask)
    {
        if (KeyOf(asking, ask) is not { } key)
        {
            return null;
        }
        foreach (ActorSystem other in Others(asking.System))
        {
            SystemScan scan = asking.ScanOf(other);
            foreach (ActorState state in scan.Actors)
            {
                if (HolderIn(state, key) is { } holder)
                {
                    return (holder, FullPath(scan, state));
                }
            }
        }
        return null;
    }

    private static AskTarget? HolderIn(ActorState state, string sender)
    {
        ActorDump dump = state.Dump;
        if (dump.IsBusy && dump.Message?.SenderPath == sender)
        {
            return new AskTarget(state, AskPlace.Processing, 0, dump.Message);
        }
        int position = 0;
        foreach (ActorMessage queued in dump.Queued)
        {
            position++;
            if (queued.SenderPath == sender)
            {
                return new AskTarget(state, AskPlace.Queued, position, queued);
            }
        }
        if (dump.Activity == ActorActivity.Idle && SystemScan.SafeSender(state.Cell) is { } last && SafePath(last) == sender)
        {
            return new AskTarget(state, AskPlace.TakenNoReply, 0, new ActorMessage("(none)", "", sender));
        }
        return null;
    }

    private static List<ActorSystem> Others(ActorSystem asking)
    {
        var others = new List<ActorSystem>();
        lock (s_systems)
        {
            foreach (WeakReference<ActorSystem> weak in s_systems)
            {
                if (weak.TryGetTarget(out ActorSystem? system) && !ReferenceEquals(system, asking) && !system.WhenTerminated.IsCompleted && CanSendRemotely(system))
                {
                    others.Add(system);
                }
            }
        }
        return others;
    }

    /// <summary>The path of an Ask's temporary actor, read from the Ask's bookkeeping closure (Akka.Actor.Futures), which captures it.</summary>
    private static ActorPath? AskPath(Task ask)
    {
        foreach (TaskContinuation c in TaskGraph.ContinuationsOf(ask))
        {
            if (c.Callback?.Target is { } closure && c.Callback.Method.DeclaringType?.DeclaringType == typeof(Futures)
                && AkkaInternals.Getter(closure.GetType(), "path")?.Invoke(closure) is ActorPath path)
            {
                return path;
            }
        }
        return null;
    }

    private static string? SafePath(IActorRef actor)
    {
        try
        {
            return actor.Path.ToString();
        }
        catch (Exception)
        {
            return null;
        }
    }
}
