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
    public static RunningJob? OwnerOf(object box)
    {
        if (TaskGraph.CapturedContextOf(box) is not { } context)
        {
            return null;
        }
        // Reading an AsyncLocal of a captured context means running under it; nothing is changed or kept.
        var owner = new System.Runtime.CompilerServices.StrongBox<RunningJob?>();
        ExecutionContext.Run(context, static state => ((System.Runtime.CompilerServices.StrongBox<RunningJob?>)state!).Value = s_current.Value, owner);
        return owner.Value;
    }
}
