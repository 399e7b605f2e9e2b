using Akka.Actor;
using Stackscope.Akka.Inspection;
using Stackscope.Akka.Setup;
using Stackscope.Glue;

[assembly: Stackscope.Glue.StackscopeGlue(typeof(Stackscope.Akka.Glue.AkkaGlue))]

namespace Stackscope.Akka.Glue;

/// <summary>
/// Teaches extraction about Akka: an Ask continues into the actor serving its request (or says where the request
/// waits, or that it went to dead letters); an actor system and an actor reference are roots whose stacks are
/// the busy actors' async handlers.
/// </summary>
/// <remarks>
/// Ask leaves are resolved against the systems the extraction has read (<see cref="SystemScans"/>, in its
/// <see cref="GlueContext"/>): a dump passes the scan it took; an extraction started elsewhere
/// (<c>StackExtractor.Extract(actorRef)</c>, or a task that awaits an Ask) reads each system it meets once.
/// </remarks>
internal sealed class AkkaGlue : IStackscopeGlue
{
    public void Register(StackscopeGlueBuilder glue)
    {
        glue.Unwrap<ActorSystem>(UnwrapSystem);
        glue.Unwrap<ActorRefWithCell>(UnwrapActor);
        glue.Unwrap<Task>(UnwrapAsk);
    }

    private static Unwrapped? UnwrapSystem(ActorSystem system, GlueContext context)
    {
        SystemScan scan = SystemScans.In(context).For(system);
        List<ActorState> busy = scan.Detailed.Where(static a => a.Dump.IsBusy).OrderBy(static a => a.Dump.Path, StringComparer.Ordinal).ToList();
        string description = $"actor system {system.Name}: {busy.Count} busy of {scan.ActorCount} actors";
        return busy.Count == 0 ? Unwrapped.Leaf(description) : Unwrapped.To(description, busy.Select(static a => (object)a.Self).ToArray());
    }

    private static Unwrapped? UnwrapActor(ActorRefWithCell actor, GlueContext context)
    {
        SystemScan scan = SystemScans.In(context).For(actor.Underlying.System);
        return scan.StateOf(actor) is { } state ? Continue($"actor {state.Dump.Path}", state) : null;
    }

    private static Unwrapped? UnwrapAsk(Task task, GlueContext context)
    {
        if (task.IsCompleted || !(SystemScans.Seeded(context)?.IsAsk(task) ?? SystemScan.IsAsk(task)))
        {
            return null;
        }
        SystemScans scans = SystemScans.In(context);
        SystemScan? scan = scans.All.FirstOrDefault(s => s.TargetOf(task) is not null)
            ?? (AskSystem(task) is { } system ? scans.For(system) : scans.All.FirstOrDefault());
        if (scan?.TargetOf(task) is { } taken && RemoteAsks.IsRemoting(taken.Target))
        {
            return RemoteLeaf(scans, scan, task, taken);
        }
        if (scan?.TargetOf(task) is not { } target)
        {
            if (DeadLetterAsks.Find(task) is { } dead)
            {
                return Unwrapped.Leaf($"Ask {dead.MessageType} → {dead.Recipient}: that actor is stopped; the request went to dead letters {Ago(dead.At)} ago and the Ask ends only by its timeout");
            }
            if (StoppedAsks.Find(task) is { } stopped)
            {
                return Unwrapped.Leaf(stopped.RequestType is { } type
                    ? $"Ask {type} → {stopped.Target}: that actor stopped {Ago(stopped.At)} ago while processing it ({stopped.ActorTypeName} {(stopped.Awaiting ? "awaiting in" : "running")} its handler of {type}); the Ask ends only by its timeout"
                    : $"Ask → {stopped.Target}: that actor took the request and stopped {Ago(stopped.At)} ago without replying; the Ask ends only by its timeout");
            }
            if (scan is not null && RemoteAsks.CanSendRemotely(scan.System) && RemoteLeaf(scans, scan, task, null) is { } remote)
            {
                return remote; // Akka.Remote's endpoint manager no longer has the Ask as its last sender, but a remote actor holds the request
            }
            bool recorded = (scan?.System ?? AskSystem(task))?.HasExtension<StackscopeAkkaExtension>() ?? false;
            return Unwrapped.Leaf("Ask: no actor holds its request (sent to a stopped actor, replied to elsewhere, or forwarded out of this system"
                + (recorded ? ")" : "; call actorSystem.UseStackscope() before the Ask to have dead letters and stopped targets recorded)"));
        }
        return Holder(target, target.Target.Dump.Path);
    }

    /// <summary>
    /// An Ask whose request <paramref name="target"/> holds, named <paramref name="path"/>: continues into the actor's
    /// handler when it is processing the request, or processing another with the request queued behind; otherwise a leaf
    /// saying where the request is. Words every Ask alike, whichever node asks: a node answering another's question about
    /// its actors words it here too (<see cref="Remote.NodeService"/>).
    /// </summary>
    internal static Unwrapped Holder(AskTarget target, string path)
    {
        string request = target.Request.TypeName;
        return target.Place switch
        {
            AskPlace.Processing => Continue($"Ask {request} → {path}, processing it", target.Target),
            AskPlace.Queued => target.Target.Dump.IsBusy
                ? Continue($"Ask {request} → {path}: queued at position {target.Position} of {target.Target.Dump.MailboxCount} in its mailbox, behind {target.Target.Dump.Message?.TypeName} it is processing", target.Target)
                : Unwrapped.Leaf($"Ask {request} → {path}: queued at position {target.Position} of {target.Target.Dump.MailboxCount} in its mailbox ({target.Target.Dump.Activity.ToString().ToLowerInvariant()})"),
            _ => Unwrapped.Leaf($"Ask {request} → {path}: it took the request and finished without replying; the Ask ends only by a reply sent later or its timeout"),
        };
    }

    /// <summary>
    /// An Ask whose request left the system over Akka.Remote (Akka.Remote's endpoint manager took it,
    /// <paramref name="remoting"/>, or no actor of the system holds it): continues into the remote actor holding the
    /// request, as the other nodes answered an asynchronous dump (<see cref="SystemScans.Remote"/>) or as another
    /// system of this process shows it; otherwise says what is known, or null when nothing shows the request left.
    /// </summary>
    private static Unwrapped? RemoteLeaf(SystemScans scans, SystemScan scan, Task task, AskTarget? remoting)
    {
        string? key = RemoteAsks.KeyOf(scan, task);
        if (key is not null && scans.Remote is { } remote)
        {
            if (remote.ByKey.TryGetValue(key, out Remote.HolderAnswer? answer))
            {
                return answer.Stack is { } stack ? Unwrapped.To(answer.Description, stack) : Unwrapped.Leaf(answer.Description);
            }
            if (remote.ChainHolder(key) is { } holder)
            {
                return Unwrapped.Leaf($"Ask → {holder}: DEADLOCK, that actor is already on this chain (an Ask cycle across nodes)");
            }
        }
        if (RemoteAsks.Find(scan, task) is { } inProcess)
        {
            return Holder(inProcess.Target, inProcess.Path);
        }
        if (key is null && remoting is null)
        {
            return null;
        }
        string took = remoting is null ? "" : $" ({remoting.Target.Dump.Path} took it)";
        if (scans.Remote is not { } asked)
        {
            return Unwrapped.Leaf($"Ask → a remote actor: the request went over Akka.Remote{took}; a synchronous dump does not ask other nodes: "
                + "CaptureLogicalStacksAsync and DumpLogicalStacksAsync follow it into the node holding it");
        }
        string why = asked.Asked == 0 && asked.Unanswered.Count == 0
            ? "no other node was asked (" + (asked.Errors.FirstOrDefault() ?? "this node knows no other member") + ")"
            : asked.Unanswered.Count == 0 ? "no node holds its request (answered meanwhile, or sent to an actor that is gone)"
            : "no node that answered holds its request; not answered: " + string.Join("; ", asked.Unanswered);
        return Unwrapped.Leaf($"Ask → a remote actor: the request went over Akka.Remote{took}; {why}");
    }

    /// <summary>Continues into an actor's async handler when it has one; otherwise says what the actor is doing.</summary>
    private static Unwrapped Continue(string prefix, ActorState state)
    {
        ActorDump dump = state.Dump;
        return dump.Activity switch
        {
            ActorActivity.Awaiting when state.HandlerRoot is { } root => Unwrapped.To($"{prefix} ({dump.ActorTypeName} awaiting in its handler of {dump.Message?.TypeName})", root),
            ActorActivity.Awaiting => Unwrapped.Leaf($"{prefix} ({dump.ActorTypeName} awaiting in its handler of {dump.Message?.TypeName}; {ActorNotes.HandlerUnknown})"),
            ActorActivity.Running => Unwrapped.Leaf($"{prefix} ({dump.ActorTypeName} running its handler of {dump.Message?.TypeName} synchronously; {ActorNotes.ThreadStack})"),
            ActorActivity.Stopped => Unwrapped.Leaf($"{prefix} (stopped)"),
            _ => Unwrapped.Leaf($"{prefix} (idle)"),
        };
    }

    /// <summary>The system an Ask was made in: its bookkeeping closure captures the provider, whose root guardian knows it.</summary>
    private static ActorSystem? AskSystem(Task ask)
    {
        foreach (TaskContinuation c in TaskGraph.ContinuationsOf(ask))
        {
            if (c.Callback?.Target is { } closure && c.Callback.Method.DeclaringType?.DeclaringType == typeof(Futures)
                && AkkaInternals.Getter(closure.GetType(), "provider")?.Invoke(closure) is IActorRefProvider provider
                && provider.RootGuardian is ActorRefWithCell root)
            {
                return root.Underlying.System;
            }
        }
        return null;
    }

    private static string Ago(DateTime at) => GlueText.Duration(DateTime.UtcNow - at);
}

/// <summary>Sentences shared by the glue and the dump.</summary>
internal static class ActorNotes
{
    public const string HandlerUnknown =
        "its handler's task is found from Asks it awaits, or with TaskTracking on (actorSystem.UseStackscope(o => o.TrackHandlers = true))";

    public const string ThreadStack = "a thread's stack is read out of process: dotnet-stackscope <pid>";

}
