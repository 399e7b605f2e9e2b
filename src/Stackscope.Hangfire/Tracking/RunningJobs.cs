using System.Collections.Concurrent;
using System.Diagnostics;
using System.Reflection;
using Hangfire.Common;
using Hangfire.Server;
using Stackscope.Glue;

namespace Stackscope.Hangfire.Tracking;

/// <summary>A job this process is performing, as recorded when its performance began.</summary>
internal sealed class RunningJob
{
    public required string JobId { get; init; }
    public required Job? Job { get; init; }
    public required string ServerId { get; init; }
    public required int ThreadId { get; init; }
    public required string? ThreadName { get; init; }
    public required DateTime StartedAt { get; init; }
    public required long StartedTimestamp { get; init; }

    /// <summary><see cref="System.Diagnostics.Activity.Current"/> when its performance began (a tracing filter's job activity, if one ran before Stackscope's).</summary>
    public required Activity? Activity { get; init; }

    public TimeSpan Elapsed => Stopwatch.GetElapsedTime(StartedTimestamp);

    public MethodInfo? Method => Job?.Method;

    /// <summary>Whether the job method returns a task-like: the worker waits for its task chain.</summary>
    public bool IsAsync => Method?.ReturnType is { } type && (typeof(Task).IsAssignableFrom(type) || type.Name.StartsWith("ValueTask", StringComparison.Ordinal));
}

/// <summary>
/// The registry of job executions this process is performing, filled by <see cref="StackscopeJobFilter"/> (one add and
/// one remove per execution) and read by dumps. A documented process-wide registry: executions of every server in the
/// process. Keyed by execution, not job id: a job requeued while it still runs (deleted, its cancellation ignored) is
/// performed twice at once, and each execution is listed until it ends.
/// </summary>
internal static class RunningJobs
{
    private static readonly ConcurrentDictionary<RunningJob, byte> s_jobs = new(ReferenceEqualityComparer.Instance);

    /// <summary>Where an execution keeps its record between OnPerforming and OnPerformed (Hangfire's per-performance items).</summary>
    private const string ItemKey = "Stackscope.RunningJob";

    /// <summary>The job whose performance the current execution context belongs to (it flows into the job's async methods).</summary>
    private static readonly AsyncLocal<RunningJob?> s_current = new();

    public static ICollection<RunningJob> All => s_jobs.Keys;

    public static RunningJob? Current => s_current.Value;

    /// <summary>
    /// Whether an execution has been running at least <paramref name="threshold"/> (on <paramref name="serverId"/>, if given):
    /// the monitor's cheap first look, a lock-free walk of the registry that copies nothing.
    /// </summary>
    public static bool AnyRunning(TimeSpan threshold, string? serverId = null)
    {
        foreach (KeyValuePair<RunningJob, byte> entry in s_jobs)
        {
            if ((serverId is null || entry.Key.ServerId == serverId) && StuckRule.IsStuck(entry.Key.Elapsed, threshold))
            {
                return true;
            }
        }
        return false;
    }

    public static void Begin(PerformContext context)
    {
        var job = new RunningJob
        {
            JobId = context.BackgroundJob.Id,
            Job = context.BackgroundJob.Job,
            ServerId = context.ServerId ?? "?",
            ThreadId = Environment.CurrentManagedThreadId,
            ThreadName = Thread.CurrentThread.Name,
            StartedAt = DateTime.UtcNow,
            StartedTimestamp = Stopwatch.GetTimestamp(),
            Activity = Activity.Current,
        };
        context.Items[ItemKey] = job;
        s_jobs[job] = 0;
        s_current.Value = job;
    }

    public static void End(PerformContext context)
    {
        if (context.Items.TryGetValue(ItemKey, out object? item) && item is RunningJob job)
        {
            s_jobs.TryRemove(job, out _);
        }
        s_current.Value = null;
    }

    /// <summary>The job an async method box belongs to: the one current in the execution context the box captured at its first await.</summary>
    public static RunningJob? OwnerOf(object box) => ContextOf(box).Owner;

    /// <summary>
    /// The job an async method box belongs to and the <see cref="System.Diagnostics.Activity.Current"/> of the execution
    /// context it captured at its first await: for a job method's own box, the activity its job runs in, whatever the order
    /// of the server filters that started it.
    /// </summary>
    public static (RunningJob? Owner, Activity? Activity) ContextOf(object box)
    {
        if (TaskGraph.CapturedContextOf(box) is not { } context)
        {
            return (null, null);
        }
        // Reading an AsyncLocal of a captured context means running under it; nothing is changed or kept.
        var read = new System.Runtime.CompilerServices.StrongBox<(RunningJob?, Activity?)>();
        ExecutionContext.Run(context, static state => ((System.Runtime.CompilerServices.StrongBox<(RunningJob?, Activity?)>)state!).Value = (s_current.Value, Activity.Current), read);
        return read.Value;
    }
}
