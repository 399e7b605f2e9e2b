using System.Diagnostics.Tracing;
using Stackscope.Runtime;

namespace Stackscope;

/// <summary>
/// Opt-in tracking of the runtime's async operations. While enabled, the runtime records every async
/// method box and started task in its own active-task registry (the one debuggers use), and Stackscope
/// listens to the runtime's task events to know which async method each thread is currently resuming.
/// That is what lets <see cref="StackExtractor.ExtractCurrent"/> continue from a resumed async method into
/// its logical callers.
/// </summary>
/// <remarks>
/// <para>Cost while enabled: each async method box is added to and removed from a locked dictionary, each
/// await registers a small wrapper delegate, and each resumption raises two in-process events
/// (<c>TraceSynchronousWorkBegin</c>/<c>End</c> of <c>System.Threading.Tasks.TplEventSource</c>). Leave it
/// off in hot production paths until its cost is measured for your workload. Operations started before
/// <see cref="Enable"/> are not recorded.</para>
/// <para>State: one process-wide listener and a per-thread stack of task ids, both documented registries.</para>
/// </remarks>
public static class TaskTracking
{
    private static readonly object s_gate = new();
    private static CurrentTaskListener? s_listener;

    /// <summary>Whether tracking is on.</summary>
    public static bool IsEnabled => Volatile.Read(ref s_listener) is not null;

    /// <summary>Turns tracking on. Idempotent and thread-safe.</summary>
    public static void Enable()
    {
        lock (s_gate)
        {
            if (s_listener is not null)
            {
                return;
            }
            TaskInternals.AsyncDebuggingEnabled(null) = true;
            Volatile.Write(ref s_listener, new CurrentTaskListener());
        }
    }

    /// <summary>Turns tracking off. Idempotent and thread-safe.</summary>
    public static void Disable()
    {
        lock (s_gate)
        {
            if (s_listener is null)
            {
                return;
            }
            s_listener.Dispose();
            s_listener = null;
            TaskInternals.AsyncDebuggingEnabled(null) = false;
        }
    }

    /// <summary>
    /// The box of the async method the calling thread is resuming, if tracking knows it and it runs the
    /// state machine <paramref name="stateMachineType"/>.
    /// </summary>
    internal static Task? CurrentBox(Type stateMachineType)
    {
        if (!IsEnabled)
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

    /// <summary>A snapshot of the runtime's active tasks, or empty if tracking is off or the registry is busy.</summary>
    internal static Task[] ActiveTasks()
    {
        Dictionary<int, Task>? registry = TaskInternals.ActiveTasks(null);
        if (registry is null)
        {
            return Array.Empty<Task>();
        }
        // The runtime locks the dictionary itself; extraction never blocks, so only try briefly.
        for (int attempt = 0; attempt < 50; attempt++)
        {
            if (Monitor.TryEnter(registry))
            {
                try
                {
                    return registry.Values.ToArray();
                }
                finally
                {
                    Monitor.Exit(registry);
                }
            }
            Thread.SpinWait(20);
        }
        return Array.Empty<Task>();
    }

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
