using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Actor.Internal;
using Stackscope.Akka.Inspection;

namespace Stackscope.Akka.Setup;

/// <summary>An Ask whose request an actor held when it stopped: the request is gone with the actor.</summary>
/// <param name="Target">The stopped actor's path.</param>
/// <param name="ActorTypeName">Its class, as written in C#.</param>
/// <param name="RequestType">The request's type when the actor was processing it, null when it had finished with it.</param>
/// <param name="Awaiting">Whether it was suspended in an async handler of the request (rather than running one).</param>
/// <param name="At">When it stopped (UTC).</param>
internal sealed record StoppedAsk(string Target, string ActorTypeName, string? RequestType, bool Awaiting, DateTime At);

/// <summary>
/// The registry of Asks whose target stopped while holding the request (processing it, or having taken it without
/// replying), keyed by the Ask's task and held weakly. Filled by <see cref="StoppedAskRecorder"/> when an actor
/// stops — never per message. A stopped actor leaves the tree, so without this a dump cannot say where such an Ask went.
/// </summary>
internal static class StoppedAsks
{
    private static readonly ConditionalWeakTable<Task, StoppedAsk> s_asks = new();

    public static StoppedAsk? Find(Task ask) => s_asks.TryGetValue(ask, out StoppedAsk? found) ? found : null;

    /// <summary>Records the Ask <paramref name="cell"/> holds, if any, as it stops. Reads only the cell.</summary>
    public static void Record(ActorCell cell)
    {
        if (AkkaInternals.AskTask(cell.Sender) is not { IsCompleted: false } ask)
        {
            return;
        }
        object? awaited = AkkaInternals.TaskScheduler(cell)?.CurrentMessage;
        object? request = awaited ?? cell.CurrentMessage;
        s_asks.AddOrUpdate(ask, new StoppedAsk(cell.Self.Path.ToString(), SystemScan.TypeName(cell.Props?.Type),
            request is null ? null : SystemScan.TypeName(request.GetType()), awaited is not null, DateTime.UtcNow));
    }
}

/// <summary>
/// An actor-producer plugin: Akka calls it as each actor stops (and before each restart, which it ignores), on the
/// actor's own thread, while the cell still knows its last sender and current message.
/// </summary>
internal sealed class StoppedAskRecorder : IActorProducerPlugin
{
    public bool CanBeAppliedTo(Type actorType) => true;

    public void AfterIncarnated(ActorBase actor, IActorContext context)
    {
    }

    public void BeforeIncarnated(ActorBase actor, IActorContext context)
    {
        try
        {
            // Stopping, not restarting: termination has replaced the children container with the terminated one.
            if (context is ActorCell { ChildrenContainer: TerminatedChildrenContainer } cell)
            {
                StoppedAsks.Record(cell);
            }
        }
        catch (Exception)
        {
            // recording is best effort and must never disturb the stopping actor
        }
    }
}
