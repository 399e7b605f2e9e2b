using System.Diagnostics.Tracing;
using Stackscope.Runtime;

namespace Stackscope;

/// <summary>What <see cref="TaskTracking"/> records.</summary>
public enum TaskTrackingMode
{
    /// <summary>
    /// The runtime's active-task registry only: enough for <see cref="StackExtractor.ExtractAll(ExtractOptions?)"/>
    /// and for recovering the children of combinators, at a lower cost than <see cref="Full"/>.
    /// </summary>
    Registry,

    /// <summary>
    /// The registry plus, per thread, which async method is being resumed: what lets
    /// <see cref="StackExtractor.ExtractCurrent"/> cross from a resumed method into its logical callers.
    /// </summary>
    Full,
}

/// <summary>
/// Opt-in tracking of the runtime's async operations. While enabled, the runtime records every async
/// method box and started task in its own active-task registry (the one debuggers use), and Stackscope
/// listens to the runtime's task events to know which async method each thread is currently resuming.
/// That is what lets <see cref="StackExtractor.ExtractCurrent"/> continue from a resumed async method into
/// its logical callers.
/// </summary>
/// <remarks>
/// <para>Cost while enabled: each async method box is added to and removed from a locked dictionary and
/// each await registers a wrapper delegate; in <see cref="TaskTrackingMode.Full"/> mode each resumption also
/// raises two in-process events (<c>TraceSynchronousWorkBegin</c>/<c>End</c> of
/// <c>System.Threading.Tasks.TplEventSource</c>). docs/performance.md measures both modes on a program doing
/// nothing but churn through async operations. Operations started before <see cref="Enable"/> are not recorded.</para>
/// <para>State: one process-wide listener and a per-thread stack of task ids, both documented registries.</para>
/// </remarks>
public static class TaskTracking
{
    private static readonly object s_gate = new();
    private static CurrentTaskListener? s_listener;
    private static volatile bool s_enabled;

    /// <summary>Whether tracking is on, in either mode.</summary>
    public static bool IsEnabled => s_enabled;

    /// <summary>The mode tracking is on in, or null when it is off.</summary>
    public static TaskTrackingMode? Mode => !s_enabled ? null : Volatile.Read(ref s_listener) is null ? TaskTrackingMode.Registry : TaskTrackingMode.Full;

    /// <summary>Turns tracking on, or switches its mode. Thread-safe.</summary>
    /// <param name="mode">What to track; <see cref="TaskTrackingMode.Full"/> by default.</param>
    public static void Enable(TaskTrackingMode mode = TaskTrackingMode.Full)
    {
        lock (s_gate)
        {
            TaskInternals.AsyncDebuggingEnabled(null) = true;
            if (mode == TaskTrackingMode.Full && s_listener is null)
            {
                Volatile.Write(ref s_listener, new CurrentTaskListener());
            }
            else if (mode == TaskTrackingMode.Registry && s_listener is not null)
            {
                s_listener.Dispose();
                Volatile.Write(ref s_listener, null);
            }
            s_enabled = true;
        }
    }

    /// <summary>Turns tracking off. Idempotent and thread-safe.</summary>
    public static void Disable()
    {
        lock (s_gate)
        {
            s_listener?.Dispose();
            Volatile.Write(ref s_listener, null);
            TaskInternals.AsyncDebuggingEnabled(null) = false;
            s_enabled = false;
        }
    }

    /// <summary>
    /// The box of the async method the calling thread is resuming, if tracking knows it and it runs the
    /// state machine <paramref name="stateMachineType"/>.
    /// </summary>
    internal static Task? CurrentBox(Type stateMachineType)
    {
        if (Volatile.Read(ref s_listener) is null)
        {
            return null;
        }
        foreach (int id in CurrentTaskListener.CurrentIds())
        {
            if (TryGetActive(id) is { } task &&
                RuntimeObjects.For(task.GetType()).Model?.StateMachineType == stateMachineType)
            {
                return task;
            }
        }
        return null;
    }

    /// <summary>A snapshot of the runtime's active tasks, or empty if tracking is off or the registry stayed busy (see <see cref="TryActiveTasks"/>).</summary>
    internal static Task[] ActiveTasks() => TryActiveTasks(out Task[] tasks) ? tasks : Array.Empty<Task>();

    /// <summary>
    /// How long a copy of the registry waits for its lock at most. The runtime holds it only to add or remove one task,
    /// but a process starting and finishing many, or other readers copying a large registry, keep it busy: the first
    /// bound (50 spins, microseconds) lost every tracked stack of a silo scanned three times at once, with no word.
    /// </summary>
    internal static readonly TimeSpan RegistryBound = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// A snapshot of the runtime's active tasks: empty and true when tracking is off; false when the registry's lock
    /// stayed held for <see cref="RegistryBound"/> (the caller says so: what only the registry shows is missing).
    /// </summary>
    internal static bool TryActiveTasks(out Task[] tasks)
    {
        tasks = Array.Empty<Task>();
        Dictionary<int, Task>? registry = TaskInternals.ActiveTasks(null);
        if (registry is null)
        {
            return true;
        }
        // The runtime locks the dictionary itself. A bounded wait, never an unbounded one: a few spins first (the lock
        // is usually held for one insertion), then short timed tries until the bound.
        long deadline = Environment.TickCount64 + (long)RegistryBound.TotalMilliseconds;
        for (int attempt = 0; ; attempt++)
        {
            bool taken = attempt < 20 ? Monitor.TryEnter(registry) : Monitor.TryEnter(registry, 1);
            if (taken)
            {
                try
                {
                    tasks = registry.Values.ToArray();
                    return true;
                }
                finally
                {
                    Monitor.Exit(registry);
                }
            }
            if (Environment.TickCount64 >= deadline)
            {
                return false;
            }
            if (attempt < 20)
            {
                Thread.SpinWait(20);
            }
        }
    }

    /// <summary>What a reader says when <see cref="TryActiveTasks"/> failed.</summary>
    internal static string RegistryBusy =>
        $"the runtime's active-task registry (TaskTracking) stayed locked for {RegistryBound.TotalMilliseconds:F0} ms: what only it shows is missing";

    private static Task? TryGetActive(int id)
    {
        Dictionary<int, Task>? registry = TaskInternals.ActiveTasks(null);
        if (registry is null)
        {
            return null;
        }
        for (int attempt = 0; attempt < 50; attempt++)
        {
            if (Monitor.TryEnter(registry))
            {
                try
                {
                    return registry.TryGetValue(id, out Task? t) ? t : null;
                }
                finally
                {
                    Monitor.Exit(registry);
                }
            }
            Thread.SpinWait(20);
        }
        return null;
    }

    /// <summary>Keeps, per thread, the ids of the async method boxes being resumed, innermost last.</summary>
    private sealed class CurrentTaskListener : EventListener
    {
        private const string TplSourceName = "System.Threading.Tasks.TplEventSource";
        private const EventKeywords AsyncCausalitySynchronousWork = (EventKeywords)0x20;
        private const int SynchronousWorkBegin = 17;
        private const int SynchronousWorkEnd = 18;

        [ThreadStatic] private static int[]? t_ids;
        [ThreadStatic] private static int t_count;

        public static IEnumerable<int> CurrentIds()
        {
            int[]? ids = t_ids;
            for (int i = Math.Min(t_count, ids?.Length ?? 0) - 1; i >= 0; i--)
            {
                yield return ids![i];
            }
        }

        protected override void OnEventSourceCreated(EventSource eventSource)
        {
            if (eventSource.Name == TplSourceName)
            {
                EnableEvents(eventSource, EventLevel.Informational, AsyncCausalitySynchronousWork);
            }
        }

        protected override void OnEventWritten(EventWrittenEventArgs eventData)
        {
            if (eventData.EventId == SynchronousWorkBegin && eventData.Payload is { Count: > 0 } payload && payload[0] is int id)
            {
                int[] ids = t_ids ??= new int[16];
                if (t_count < ids.Length)
                {
                    ids[t_count] = id;
                }
                t_count++;
            }
            else if (eventData.EventId == SynchronousWorkEnd && t_count > 0)
            {
                t_count--;
            }
        }
    }
}
