using Akka.Actor;
using Stackscope.Glue;

namespace Stackscope.Akka.Inspection;

/// <summary>Where the request of an Ask that left its system over Akka.Remote was found: an actor of another system of this process.</summary>
/// <param name="Path">The remote actor's path with its system's address (<c>akka.tcp://orders@10.0.0.2:4053/user/stock</c>).</param>
/// <param name="RequestType">The request's type, when the remote actor is processing it or holds it queued.</param>
/// <param name="Doing">What the remote actor does with it, as a relative clause ("which is processing it (...)").</param>
internal sealed record RemoteHolder(string Path, string? RequestType, string Doing);

/// <summary>
/// Asks sent to actors of other actor systems over Akka.Remote. Once the asking system's endpoint writer has put
/// the request on the wire, nothing in that system keeps the recipient (the Ask's temporary actor does not, and
/// the endpoint manager that took the request keeps only its last sender); the remote actor sees the Ask's
/// temporary actor, with the asking system's address, as its sender. So the remote actor is found in the other
/// systems of this process that use Stackscope (<see cref="StackscopeAkka.UseStackscope"/>); in another process it
/// cannot be named yet. Remote Asks are not followed into the remote handler's stack.
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

    /// <summary>The actor of another Stackscope system of this process holding the request of <paramref name="ask"/>, if any.</summary>
    public static RemoteHolder? Find(SystemScan asking, Task ask)
    {
        if (asking.System is not ExtendedActorSystem extended || AskPath(ask) is not { } path)
        {
            return null;
        }
        string sender = path.ToStringWithAddress(extended.Provider.DefaultAddress);
        foreach (ActorSystem other in Others(asking.System))
        {
            SystemScan scan = asking.ScanOf(other);
            foreach (ActorState state in scan.Actors)
            {
                if (HolderIn(state, sender, other) is { } holder)
                {
                    return holder;
                }
            }
        }
        return null;
    }

    private static RemoteHolder? HolderIn(ActorState state, string sender, ActorSystem system)
    {
        ActorDump dump = state.Dump;
        string path = state.Self.Path.ToStringWithAddress(((ExtendedActorSystem)system).Provider.DefaultAddress);
        if (dump.IsBusy && dump.Message?.SenderPath == sender)
        {
            string request = dump.Message.TypeName;
            return new RemoteHolder(path, request, dump.Activity == ActorActivity.Awaiting
                ? $"which is processing it ({dump.ActorTypeName} awaiting in its handler of {request})"
                : $"which is processing it ({dump.ActorTypeName} running its handler of {request} synchronously)");
        }
        int position = 0;
        foreach (ActorMessage queued in dump.Queued)
        {
            position++;
            if (queued.SenderPath == sender)
            {
                return new RemoteHolder(path, queued.TypeName, $"which holds it queued at position {position} of {dump.MailboxCount} in its mailbox ({dump.Activity.ToString().ToLowerInvariant()})");
            }
        }
        if (dump.Activity == ActorActivity.Idle && SystemScan.SafeSender(state.Cell) is { } last && SafePath(last) == sender)
        {
            return new RemoteHolder(path, null, "which took it and finished without replying");
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
