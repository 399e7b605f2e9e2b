using System.Collections;
using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;

namespace Stackscope.Runtime;

/// <summary>Reads the runtime's timers (TimerQueueTimer behind Task.Delay, WaitAsync, CancellationTokenSource, PeriodicTimer).</summary>
internal static class Timers
{
    /// <summary>Time left before <paramref name="timer"/> fires; null if unknown or infinite.</summary>
    public static TimeSpan? Remaining(object? timer)
    {
        // Timer wraps a TimerHolder wraps a TimerQueueTimer; ITimer fields hold the TimerQueueTimer itself.
        for (int hop = 0; hop < 3 && timer is not null && timer.GetType().Name != "TimerQueueTimer"; hop++)
        {
            timer = FieldPath.Read(timer, "_timer");
        }
        if (timer is null ||
            FieldPath.Read(timer, "_dueTime") is not uint due || FieldPath.Read(timer, "_startTicks") is not long start ||
            due == uint.MaxValue || FieldPath.Read(timer, "_canceled") is true)
        {
            return null;
        }
        return TimeSpan.FromMilliseconds(start + due - Environment.TickCount64);
    }

    public static string Format(TimeSpan t) => t <= TimeSpan.Zero
        ? "due now"
        : t.TotalSeconds < 10
            ? t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"
            : t.TotalSeconds.ToString("0", CultureInfo.InvariantCulture) + " s";

    public static string DescribeTimeout(object? timer) => Remaining(timer) is { } t ? $" (times out in {Format(t)})" : string.Empty;

    public static string DescribeDeadline(object? timer) => Remaining(timer) is { } t ? $", cancels in {Format(t)}" : ", no deadline";
}

/// <summary>
/// <c>Parallel.ForEachAsync</c> and <c>Parallel.ForAsync</c>: their task is a TaskCompletionSource's that the last of
/// their workers completes; nothing references the workers from it (they are found upward, with tracking).
/// </summary>
internal static class ParallelLoops
{
    /// <summary>True when <paramref name="method"/> is one of the async parallel loops.</summary>
    public static bool IsLoop(MethodBase? method) =>
        method is { Name: "ForEachAsync" or "ForAsync" } && method.DeclaringType == typeof(Parallel);

    /// <summary>True for the state machine of a loop's worker (a lambda of a closure class nested in <see cref="Parallel"/>).</summary>
    public static bool IsWorker(Type stateMachineType) =>
        stateMachineType.DeclaringType?.FullName?.StartsWith("System.Threading.Tasks.Parallel", StringComparison.Ordinal) ?? false;
}

/// <summary>Reads SemaphoreSlim state without taking its lock.</summary>
internal static class Semaphores
{
    private const int MaxWaiters = 100_000;
    private static readonly ConcurrentDictionary<Type, Func<object, object?>[]> s_semaphoreFields = new();

    public static string Describe(SemaphoreSlim semaphore)
    {
        int max = FieldPath.Read(semaphore, "m_maxCount") as int? ?? -1;
        int asyncWaiters = 0;
        for (object? node = FieldPath.Read(semaphore, "m_asyncHead"); node is not null && asyncWaiters < MaxWaiters; node = FieldPath.Read(node, "Next"))
        {
            asyncWaiters++;
        }
        int syncWaiters = FieldPath.Read(semaphore, "m_waitCount") as int? ?? 0;
        string capacity = max is > 0 and < int.MaxValue ? $"{semaphore.CurrentCount} of {max} free" : $"count {semaphore.CurrentCount}";
        return $"SemaphoreSlim: {capacity}, {asyncWaiters + syncWaiters} waiting";
    }

    /// <summary>The 1-based position of <paramref name="node"/> in the semaphore's async wait queue, or 0.</summary>
    public static int PositionOf(SemaphoreSlim semaphore, object node)
    {
        int position = 0;
        for (object? n = FieldPath.Read(semaphore, "m_asyncHead"); n is not null && position < MaxWaiters; n = FieldPath.Read(n, "Next"))
        {
            position++;
            if (ReferenceEquals(n, node))
            {
                return position;
            }
        }
        return 0;
    }

    /// <summary>Readers of the SemaphoreSlim-typed fields of a type (a lock-scope object, a service holding a lock).</summary>
    public static Func<object, object?>[] FieldsOf(Type type) => s_semaphoreFields.GetOrAdd(type, static t =>
        FieldPath.AllFields(t)
            .Where(f => typeof(SemaphoreSlim).IsAssignableFrom(f.FieldType))
            .Select(f => FieldPath.Compile<object?>(t, [f]))
            .ToArray());
}

/// <summary>Reads System.Threading.Channels internals: which channel an operation belongs to and how full it is.</summary>
internal static class Channels
{
    private static readonly ConcurrentDictionary<Type, bool> s_isChannelPart = new();

    public static bool IsOperation(Type type) =>
        type.Namespace == "System.Threading.Channels" && IsSubclassNamed(type, "AsyncOperation");

    public static bool IsChannelPart(object o) => s_isChannelPart.GetOrAdd(o.GetType(), static t =>
        IsSubclassNamed(t, "ChannelReader`1") || IsSubclassNamed(t, "ChannelWriter`1") || IsSubclassNamed(t, "Channel`2"));

    /// <summary>"UnboundedChannel&lt;string&gt; (0 items buffered)" for a channel, reader or writer.</summary>
    public static string? Describe(object part)
    {
        object? channel = FieldPath.Read(part, "_parent") ?? part;
        object? items = FieldPath.Read(channel, "_items");
        int? count = items switch
        {
            ICollection c => c.Count,
            null => null,
            _ => FieldPath.Read(items, "_size") as int?,
        };
        string capacity = FieldPath.Read(channel, "_bufferedCapacity") is int cap ? $" of {cap}" : string.Empty;
        return $"{Symbols.MethodNames.FormatType(channel.GetType())} ({(count is int n ? n.ToString(CultureInfo.InvariantCulture) : "?")}{capacity} items buffered)";
    }

    private static bool IsSubclassNamed(Type type, string name)
    {
        for (Type? t = type; t is not null; t = t.BaseType)
        {
            if (t.Name == name)
            {
                return true;
            }
        }
        return false;
    }
}
