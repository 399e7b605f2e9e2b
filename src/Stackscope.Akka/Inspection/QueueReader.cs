using System.Collections.Concurrent;
using System.Linq.Expressions;
using System.Reflection;

namespace Stackscope.Akka.Inspection;

/// <summary>
/// Reads the items of a <see cref="ConcurrentQueue{T}"/> in order without changing it. The queue's own enumerator
/// and TryPeek mark segments as preserved for observation, which changes how later dequeues behave; this reads the
/// segments' slots directly instead, and keeps an item only when its slot's sequence number says it is enqueued and
/// not yet dequeued, before and after the item is read (an item dequeued meanwhile is skipped, never torn).
/// </summary>
/// <remarks>Accessors are compiled once for <typeparamref name="T"/>; if the runtime's layout differs, <see cref="IsAvailable"/> is false.</remarks>
internal static class QueueReader<T>
{
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic;

    private static readonly Func<ConcurrentQueue<T>, object?>? s_head;
    private static readonly Func<object, Array?>? s_slots;
    private static readonly Func<object, int>? s_headIndex;
    private static readonly Func<object, int>? s_tailIndex;
    private static readonly Func<object, object?>? s_next;
    private static readonly Func<Array, int, T>? s_item;
    private static readonly Func<Array, int, int>? s_sequence;

    static QueueReader()
    {
        try
        {
            FieldInfo? head = typeof(ConcurrentQueue<T>).GetField("_head", Instance);
            Type? segment = head?.FieldType;
            FieldInfo? slots = segment?.GetField("_slots", Instance);
            FieldInfo? headAndTail = segment?.GetField("_headAndTail", Instance);
            FieldInfo? next = segment?.GetField("_nextSegment", Instance);
            Type? slot = slots?.FieldType.GetElementType();
            FieldInfo? item = slot?.GetField("Item", Instance);
            FieldInfo? sequence = slot?.GetField("SequenceNumber", Instance);
            FieldInfo? headIndex = headAndTail?.FieldType.GetField("Head", Instance);
            FieldInfo? tailIndex = headAndTail?.FieldType.GetField("Tail", Instance);
            if (head is null || segment is null || slots is null || headAndTail is null || next is null || item is null || sequence is null || headIndex is null || tailIndex is null)
            {
                return;
            }

            var queue = Expression.Parameter(typeof(ConcurrentQueue<T>), "queue");
            s_head = Expression.Lambda<Func<ConcurrentQueue<T>, object?>>(Expression.Field(queue, head), queue).Compile();

            var seg = Expression.Parameter(typeof(object), "segment");
            Expression typed = Expression.Convert(seg, segment);
            s_slots = Expression.Lambda<Func<object, Array?>>(Expression.Field(typed, slots), seg).Compile();
            s_headIndex = Expression.Lambda<Func<object, int>>(Expression.Field(Expression.Field(typed, headAndTail), headIndex), seg).Compile();
            s_tailIndex = Expression.Lambda<Func<object, int>>(Expression.Field(Expression.Field(typed, headAndTail), tailIndex), seg).Compile();
            s_next = Expression.Lambda<Func<object, object?>>(Expression.Field(typed, next), seg).Compile();

            var array = Expression.Parameter(typeof(Array), "slots");
            var index = Expression.Parameter(typeof(int), "index");
            Expression element = Expression.ArrayIndex(Expression.Convert(array, slots.FieldType), index);
            s_item = Expression.Lambda<Func<Array, int, T>>(Expression.Field(element, item), array, index).Compile();
            s_sequence = Expression.Lambda<Func<Array, int, int>>(Expression.Field(element, sequence), array, index).Compile();
        }
        catch (Exception)
        {
            s_head = null; // another runtime's layout: the queue's contents are reported as unknown
        }
    }

    /// <summary>Whether this runtime's ConcurrentQueue layout is the one the reader knows.</summary>
    public static bool IsAvailable => s_head is not null && s_item is not null;

    /// <summary>Visits the queued items from the head, in order, until <paramref name="visit"/> returns false.</summary>
    /// <returns>False if the layout is unknown or the read could not complete.</returns>
    public static bool Read(ConcurrentQueue<T> queue, Func<T, bool> visit)
    {
        if (!IsAvailable)
        {
            return false;
        }
        try
        {
            object? segment = s_head!(queue);
            for (int hops = 0; segment is not null && hops < 1_000_000; hops++)
            {
                Array? slots = s_slots!(segment);
                if (slots is null)
                {
                    return false;
                }
                int mask = slots.Length - 1;
                int head = s_headIndex!(segment);
                int tail = s_tailIndex!(segment);
                for (int position = head, seen = 0; position != tail && seen < slots.Length; position++, seen++)
                {
                    int i = position & mask;
                    // Filled and not yet dequeued: the enqueuer set the sequence to position + 1.
                    if (s_sequence!(slots, i) != position + 1)
                    {
                        continue;
                    }
                    T value = s_item!(slots, i);
                    if (s_sequence(slots, i) != position + 1)
                    {
                        continue; // dequeued while being read
                    }
                    if (!visit(value))
                    {
                        return true;
                    }
                }
                segment = s_next!(segment);
            }
            return true;
        }
        catch (Exception)
        {
            return false;
        }
    }
}
