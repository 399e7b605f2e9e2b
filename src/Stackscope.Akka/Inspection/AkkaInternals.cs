using System.Collections.Concurrent;
using System.Linq.Expressions;
using System.Reflection;
using Akka.Actor;
using Akka.Dispatch;
using Akka.Dispatch.MessageQueues;
using Stackscope.Glue;

namespace Stackscope.Akka.Inspection;

/// <summary>
/// Reads the Akka state the public API does not expose, or exposes only through members that would change it
/// (<c>ActorCell.TaskScheduler</c> creates the scheduler; enumerating or peeking a <see cref="ConcurrentQueue{T}"/>
/// marks its segments as preserved for observation). Every accessor is compiled once per type and cached (<see cref="FieldReaders"/>).
/// A field that is missing in another Akka version yields null, which callers report as "unknown".
/// </summary>
internal static class AkkaInternals
{
    private static readonly Func<object, object?>? s_taskScheduler = Getter(typeof(ActorCell), "_taskScheduler");
    private static readonly Func<Mailbox, int>? s_mailboxStatus = IntReader<Mailbox>("_statusDotNotCallMeDirectly");
    private static readonly Func<object, object?>? s_unboundedQueue = Getter(typeof(UnboundedMessageQueue), "_queue");

    /// <summary>A compiled reader of an instance field (see <see cref="FieldReaders"/>); null when there is no such field.</summary>
    public static Func<object, object?>? Getter(Type type, string field) => FieldReaders.For(type, field);

    /// <summary>The cell's task scheduler if it was ever created (reading <c>ActorCell.TaskScheduler</c> would create one).</summary>
    public static ActorTaskScheduler? TaskScheduler(ActorCell cell) => s_taskScheduler?.Invoke(cell) as ActorTaskScheduler;

    /// <summary>The mailbox status word (Akka's MailboxStatus: bit 0 closed, bit 1 scheduled, the suspend count from bit 2 up).</summary>
    public static int? MailboxStatus(Mailbox mailbox) => s_mailboxStatus?.Invoke(mailbox);

    /// <summary>A compiled reader of an int field, without the box a <see cref="Getter"/> makes (read once per actor); null when there is no such field.</summary>
    private static Func<T, int>? IntReader<T>(string field)
    {
        try
        {
            for (Type? type = typeof(T); type is not null; type = type.BaseType)
            {
                if (type.GetField(field, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly) is { } found)
                {
                    if (found.FieldType != typeof(int))
                    {
                        return null;
                    }
                    ParameterExpression instance = Expression.Parameter(typeof(T), "instance");
                    return Expression.Lambda<Func<T, int>>(Expression.Field(instance, found), instance).Compile();
                }
            }
        }
        catch (Exception)
        {
            // another Akka version: the status is reported as unknown
        }
        return null;
    }

    /// <summary>The queue behind the default unbounded mailbox and behind Stackscope's timed mailbox.</summary>
    public static ConcurrentQueue<Envelope>? EnvelopeQueue(IMessageQueue queue) => queue switch
    {
        Timing.TimedMessageQueue timed => timed.Queue,
        UnboundedMessageQueue unbounded => s_unboundedQueue?.Invoke(unbounded) as ConcurrentQueue<Envelope>,
        _ => null,
    };

    /// <summary>The task an Ask's <see cref="FutureActorRef{T}"/> completes; null for other senders.</summary>
    public static Task? AskTask(IActorRef? sender)
    {
        if (sender is null || !sender.GetType().IsGenericType || sender.GetType().GetGenericTypeDefinition() != typeof(FutureActorRef<>))
        {
            return null;
        }
        object? source = Getter(sender.GetType(), "_result")?.Invoke(sender);
        return source is null ? null : Getter(source.GetType(), "_task")?.Invoke(source) as Task;
    }
}
