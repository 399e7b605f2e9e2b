using System.Collections.Concurrent;
using System.Diagnostics;
using Akka.Actor;
using Akka.Configuration;
using Akka.Actor.Scheduler;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;

namespace Stackscope.Akka.Timing;

/// <summary>
/// An unbounded mailbox that also remembers which message its actor took last and when, so that a dump can say
/// how long a busy actor has been busy. Opt-in (<see cref="StackscopeAkka.TimedMailboxConfig"/>): it costs one
/// timestamp per message, which is the only per-message work Stackscope.Akka ever does.
/// </summary>
public sealed class StackscopeTimedMailbox : MailboxType, IProducesMessageQueue<TimedMessageQueue>
{
    /// <summary>Created by Akka from the mailbox configuration.</summary>
    public StackscopeTimedMailbox(Settings settings, Config config) : base(settings, config)
    {
    }

    /// <inheritdoc />
    public override IMessageQueue Create(IActorRef owner, ActorSystem system) => new TimedMessageQueue();
}

/// <summary>The queue of <see cref="StackscopeTimedMailbox"/>: Akka's unbounded queue plus the last message taken and when.</summary>
public sealed class TimedMessageQueue : IMessageQueue, IUnboundedMessageQueueSemantics
{
    private object? _lastMessage;
    private long _lastTakenAt;

    internal ConcurrentQueue<Envelope> Queue { get; } = new();

    /// <inheritdoc />
    public bool HasMessages => !Queue.IsEmpty;

    /// <inheritdoc />
    public int Count => Queue.Count;

    /// <inheritdoc />
    public void Enqueue(IActorRef receiver, Envelope envelope) => Queue.Enqueue(envelope);

    /// <inheritdoc />
    public bool TryDequeue(out Envelope envelope)
    {
        if (!Queue.TryDequeue(out envelope))
        {
            return false;
        }
        // Timestamp first: a reader that sees the new message always sees a time at least as new.
        Volatile.Write(ref _lastTakenAt, Stopwatch.GetTimestamp());
        Volatile.Write(ref _lastMessage, envelope.Message);
        return true;
    }

    /// <inheritdoc />
    public void CleanUp(IActorRef owner, IMessageQueue deadletters)
    {
        while (Queue.TryDequeue(out Envelope envelope))
        {
            deadletters.Enqueue(owner, envelope);
        }
    }

    /// <summary>How long ago <paramref name="message"/> was taken, if it is the last message taken.</summary>
    internal TimeSpan? TakenAgo(object? message) => TakenAt(message) is { } at ? Stopwatch.GetElapsedTime(at) : null;

    /// <summary>
    /// When (a <see cref="Stopwatch"/> timestamp) <paramref name="message"/> was taken, if it is the last message taken:
    /// the same for as long as the actor processes it, so it tells one handling of a message from the next.
    /// </summary>
    internal long? TakenAt(object? message)
    {
        object? last = Volatile.Read(ref _lastMessage);
        long at = Volatile.Read(ref _lastTakenAt);
        if (message is null || last is null)
        {
            return null;
        }
        bool same = ReferenceEquals(last, message) || last is IScheduledTellMsg scheduled && ReferenceEquals(scheduled.Message, message);
        return same ? at : null;
    }
}
