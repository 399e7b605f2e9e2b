using System.Globalization;

namespace Stackscope.Reading;

/// <summary>
/// What the runtime's own objects say, read through any <see cref="IObjectReader{TObject}"/>: timers (Task.Delay,
/// WaitAsync, CancellationTokenSource, PeriodicTimer), SemaphoreSlim's counts and wait queue, channels' buffers. One rule
/// each, for this process and another alike; field names are those of System.Private.CoreLib and System.Threading.Channels
/// in .NET 8 to 10, and a field that is not there makes a rule say less, never fail.
/// </summary>
internal static class RuntimeRules
{
    private const int MaxWaiters = 100_000;
    private const int MaxSegments = 10_000;

    // ---------------------------------------------------------------- timers

    /// <summary>When a timer fires: time left (with a clock), or only what it was set for (a dump has no clock).</summary>
    /// <param name="Left">Time left before it fires, when the reader has a clock.</param>
    /// <param name="SetFor">The time it was set to fire after, counted from when it was set.</param>
    internal readonly record struct TimerDue(TimeSpan? Left, TimeSpan SetFor);

    /// <summary>When <paramref name="timer"/> (a Timer, TimerHolder, ITimer or TimerQueueTimer) fires; null if never, canceled or unreadable.</summary>
    public static TimerDue? Due<T>(IObjectReader<T> r, T timer)
    {
        // Timer wraps a TimerHolder wraps a TimerQueueTimer; ITimer fields hold the TimerQueueTimer itself.
        for (int hop = 0; hop < 3 && !r.IsNull(timer) && r.DefinitionName(timer) != "System.Threading.TimerQueueTimer"; hop++)
        {
            timer = r.Object(timer, "_timer");
        }
        if (r.IsNull(timer) || r.UInt32(timer, "_dueTime") is not uint due || r.Int64(timer, "_startTicks") is not long start ||
            due == uint.MaxValue || r.Boolean(timer, "_canceled") == true)
        {
            return null;
        }
        TimeSpan setFor = TimeSpan.FromMilliseconds(due);
        return new TimerDue(r.Now is long now ? TimeSpan.FromMilliseconds(start + due - now) : null, setFor);
    }

    /// <summary>"12 s", "3.5 s", or "due now".</summary>
    public static string Format(TimeSpan t) => t <= TimeSpan.Zero
        ? "due now"
        : t.TotalSeconds < 10
            ? t.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"
            : t.TotalSeconds.ToString("0", CultureInfo.InvariantCulture) + " s";

    /// <summary>A Task.Delay promise's leaf: "Task.Delay: 12 s left", or in a dump what it was set for.</summary>
    public static string Delay<T>(IObjectReader<T> r, T promise) => Due(r, r.Object(promise, "_timer")) switch
    {
        { Left: { } left } => $"Task.Delay: {Format(left)} left",
        { } due => $"Task.Delay: set for {Format(due.SetFor)} (a dump has no clock: time left unknown)",
        null => "Task.Delay (infinite)",
    };

    /// <summary>" (times out in 12 s)" for a WaitAsync's timer; empty without one.</summary>
    public static string Timeout<T>(IObjectReader<T> r, T timer) => Due(r, timer) switch
    {
        { Left: { } left } => $" (times out in {Format(left)})",
        { } due => $" (timeout {Format(due.SetFor)}; a dump has no clock: time left unknown)",
        null => string.Empty,
    };

    /// <summary>A CancellationTokenSource as a resource: "canceled: no, cancels in 12 s".</summary>
    public static string CancellationSource<T>(IObjectReader<T> r, T source)
    {
        // _state: NotCanceledState = 0, NotifyingState = 1, NotifyingCompleteState = 2.
        string canceled = r.Int32(source, "_state") is int state ? (state != 0 ? "yes" : "no") : "?";
        string deadline = Due(r, r.Object(source, "_timer")) switch
        {
            { Left: { } left } => $", cancels in {Format(left)}",
            { } due => $", cancels {Format(due.SetFor)} after it was set (a dump has no clock: time left unknown)",
            null => ", no deadline",
        };
        return $"canceled: {canceled}{deadline}";
    }

    /// <summary>A PeriodicTimer's wait: "PeriodicTimer.WaitForNextTickAsync (period 5.0 s, next tick in 2.1 s)".</summary>
    public static string PeriodicTimer<T>(IObjectReader<T> r, T timer)
    {
        string period = r.Int64(timer, "_period._ticks") is long ticks ? Format(TimeSpan.FromTicks(ticks)) : "?";
        string next = Due(r, r.Object(timer, "_timer")) is { Left: { } left } ? ", next tick in " + Format(left) : string.Empty;
        return $"PeriodicTimer.WaitForNextTickAsync (period {period}{next})";
    }

    // ---------------------------------------------------------------- SemaphoreSlim

    /// <summary>"SemaphoreSlim: 0 of 1 free, 2 waiting" (or "count 3" without a maximum), read without taking its lock.</summary>
    public static string Semaphore<T>(IObjectReader<T> r, T semaphore)
    {
        int max = r.Int32(semaphore, "m_maxCount") ?? -1;
        int current = r.Int32(semaphore, "m_currentCount") ?? 0;
        int asyncWaiters = 0;
        for (T node = r.Object(semaphore, "m_asyncHead"); !r.IsNull(node) && asyncWaiters < MaxWaiters; node = r.Object(node, "Next"))
        {
            asyncWaiters++;
        }
        int syncWaiters = r.Int32(semaphore, "m_waitCount") ?? 0;
        string capacity = max is > 0 and < int.MaxValue ? $"{current} of {max} free" : $"count {current}";
        return $"SemaphoreSlim: {capacity}, {asyncWaiters + syncWaiters} waiting";
    }

    /// <summary>The 1-based position of <paramref name="waiter"/> in the semaphore's async wait queue, or 0.</summary>
    public static int WaiterPosition<T>(IObjectReader<T> r, T semaphore, T waiter)
    {
        int position = 0;
        for (T node = r.Object(semaphore, "m_asyncHead"); !r.IsNull(node) && position < MaxWaiters; node = r.Object(node, "Next"))
        {
            position++;
            if (r.Same(node, waiter))
            {
                return position;
            }
        }
        return 0;
    }

    /// <summary>Whether the object is a SemaphoreSlim or derives from one (by name, for both sides).</summary>
    public static bool IsSemaphore<T>(IObjectReader<T> r, T value) => r.HasBaseNamed(value, "SemaphoreSlim");

    /// <summary>A SemaphoreSlim.WaitAsync's leaf, given the semaphore the frame holds (if found): counts and this waiter's place.</summary>
    public static string SemaphoreWait<T>(IObjectReader<T> r, T waiter, T semaphore) =>
        !r.IsNull(semaphore) && WaiterPosition(r, semaphore, waiter) is > 0 and var position
            ? $"SemaphoreSlim.WaitAsync: {Semaphore(r, semaphore)}, this is waiter #{position}"
            : "SemaphoreSlim.WaitAsync";

    /// <summary>A resource holding a SemaphoreSlim in a field (a lock scope): "lock scope over SemaphoreSlim: ..."; null if it holds none.</summary>
    public static string? LockScope<T>(IObjectReader<T> r, T resource, out T semaphore)
    {
        foreach (var (_, value) in r.ReferenceFields(resource))
        {
            if (!r.IsNull(value) && IsSemaphore(r, value))
            {
                semaphore = value;
                return "lock scope over " + Semaphore(r, value);
            }
        }
        semaphore = default!;
        return null;
    }

    /// <summary>An Activity as a resource: "Activity 'checkout' (trace 4bf9…, span 00f0…)" (W3C ids; "?" where not set).</summary>
    public static string Activity<T>(IObjectReader<T> r, T activity) =>
        $"Activity '{r.String(activity, "<OperationName>k__BackingField") ?? "?"}' (trace {r.String(activity, "_traceId") ?? "?"}, span {r.String(activity, "_spanId") ?? "?"})";

    /// <summary>
    /// A resource of a kind the runtime defines, described: a CancellationTokenSource's state, a SemaphoreSlim's counts, or
    /// a lock scope over one. Null for anything else. <paramref name="subject"/> is the semaphore a lock scope holds.
    /// </summary>
    public static string? Resource<T>(IObjectReader<T> r, T resource, out T subject)
    {
        subject = resource;
        if (r.HasBaseNamed(resource, "CancellationTokenSource"))
        {
            return CancellationSource(r, resource);
        }
        if (IsSemaphore(r, resource))
        {
            return Semaphore(r, resource);
        }
        if (r.DefinitionName(resource) == "System.Diagnostics.Activity")
        {
            return Activity(r, resource);
        }
        if (LockScope(r, resource, out T semaphore) is { } scope)
        {
            subject = semaphore;
            return scope;
        }
        return null;
    }

    // ---------------------------------------------------------------- channels

    /// <summary>Whether an awaited object is a channel's pending read or write (an <c>AsyncOperation&lt;T&gt;</c>).</summary>
    public static bool IsChannelOperation<T>(IObjectReader<T> r, T value) =>
        r.DefinitionName(value)?.StartsWith("System.Threading.Channels.", StringComparison.Ordinal) == true &&
        (r.HasBaseNamed(value, "AsyncOperation") || r.HasBaseNamed(value, "AsyncOperation`1"));

    /// <summary>Whether an object is a channel, its reader or its writer.</summary>
    public static bool IsChannelPart<T>(IObjectReader<T> r, T value) =>
        r.HasBaseNamed(value, "ChannelReader`1") || r.HasBaseNamed(value, "ChannelWriter`1") || r.HasBaseNamed(value, "Channel`2");

    /// <summary>A channel operation's leaf: "channel read waiting for an item on UnboundedChannel&lt;string&gt; (0 items buffered)".</summary>
    public static string ChannelWait<T>(IObjectReader<T> r, T operation, T channelPart)
    {
        string kind = (r.DefinitionName(operation) ?? string.Empty).Contains("Write", StringComparison.Ordinal) ? "write waiting for room" : "read waiting for an item";
        return $"channel {kind}" + (r.IsNull(channelPart) ? string.Empty : " on " + Channel(r, channelPart));
    }

    /// <summary>"UnboundedChannel&lt;string&gt; (0 items buffered)" for a channel, reader or writer.</summary>
    public static string Channel<T>(IObjectReader<T> r, T part)
    {
        T parent = r.Object(part, "_parent");
        T channel = r.IsNull(parent) ? part : parent;
        T items = r.Object(channel, "_items");
        int? count = r.IsNull(items) ? null : r.Int32(items, "_size") ?? QueueCount(r, items);
        string capacity = r.Int32(channel, "_bufferedCapacity") is int cap ? $" of {cap}" : string.Empty;
        return $"{r.FormatType(channel)} ({(count is int n ? n.ToString(CultureInfo.InvariantCulture) : "?")}{capacity} items buffered)";
    }

    /// <summary>
    /// The items in a ConcurrentQueue, from its segments' head and tail positions (what <c>Count</c> computes, without
    /// its spinning): a segment frozen for enqueues has its tail moved on by twice its length.
    /// </summary>
    private static int? QueueCount<T>(IObjectReader<T> r, T queue)
    {
        int total = 0, segments = 0;
        for (T segment = r.Object(queue, "_head"); !r.IsNull(segment) && segments < MaxSegments; segment = r.Object(segment, "_nextSegment"), segments++)
        {
            if (r.Int32(segment, "_headAndTail.Head") is not int head || r.Int32(segment, "_headAndTail.Tail") is not int tail)
            {
                return null;
            }
            if (r.Boolean(segment, "_frozenForEnqueues") == true && r.Length(r.Object(segment, "_slots")) is int length)
            {
                tail -= 2 * length;
            }
            total += Math.Max(0, tail - head);
        }
        return segments == 0 ? null : total;
    }

    // ---------------------------------------------------------------- frames

    /// <summary>
    /// An object a suspended frame holds that <paramref name="match"/> accepts: one of its hoisted variables, or a field of
    /// its <c>this</c> (<c>&lt;&gt;4__this</c>). How a leaf finds the semaphore or channel it belongs to.
    /// </summary>
    /// <param name="r">The reader.</param>
    /// <param name="hoisted">The frame's hoisted reference fields with their values (not its awaiters or builder).</param>
    /// <param name="match">What to look for.</param>
    public static T FindInFrame<T>(IObjectReader<T> r, IEnumerable<(string Name, T Value)> hoisted, Func<T, bool> match)
    {
        foreach (var (name, value) in hoisted)
        {
            if (r.IsNull(value))
            {
                continue;
            }
            if (match(value))
            {
                return value;
            }
            if (name == "<>4__this")
            {
                foreach (var (_, inner) in r.ReferenceFields(value))
                {
                    if (!r.IsNull(inner) && match(inner))
                    {
                        return inner;
                    }
                }
            }
        }
        return default!;
    }
}
