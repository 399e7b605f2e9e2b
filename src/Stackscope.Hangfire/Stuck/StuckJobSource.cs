using System.Diagnostics;
using Stackscope.Glue;
using Stackscope.Hangfire.Inspection;
using Stackscope.Hangfire.Tracking;
using Stackscope.Monitoring;

namespace Stackscope.Hangfire.Stuck;

/// <summary>
/// The jobs this process performs, for a <see cref="StuckWorkMonitor"/>: every execution running past the monitor's
/// threshold (<c>hangfire.job</c>, <c>job 42 Shop.ReserveStock</c>), read by the dumps' own scan with its stack (async jobs
/// from the tracked tasks; synchronous ones from a snapshot of this process when
/// <see cref="StackscopeHangfireOptions.ReadThreadStacksWhenStuck"/>) and the activity it runs in.
/// </summary>
/// <remarks>
/// While nothing has run past the threshold, a poll is one lock-free walk of the running-jobs registry. A snapshot (1–2 s,
/// on the monitor's thread) is taken only for a stuck synchronous execution whose stack is older than
/// <see cref="ThreadStackRefresh"/>; in between, the last one read is reported.
/// </remarks>
internal sealed class StuckJobSource(Func<StackscopeHangfireOptions> options) : IStuckWorkSource
{
    public const string Kind = "hangfire.job";

    /// <summary>How long a synchronous job's worker-thread stack is reused before a new snapshot is taken.</summary>
    public static readonly TimeSpan ThreadStackRefresh = TimeSpan.FromMinutes(1);

    private readonly object _gate = new();
    private readonly Dictionary<RunningJob, (LogicalStack Stack, long ReadAt)> _threadStacks = new(ReferenceEqualityComparer.Instance);

    public IEnumerable<StuckWork> Read(TimeSpan threshold)
    {
        if (!RunningJobs.AnyRunning(threshold))
        {
            lock (_gate)
            {
                _threadStacks.Clear();
            }
            return [];
        }
        lock (_gate) // one read at a time: the cache of thread stacks is the source's own
        {
            bool threadStacks = options().ReadThreadStacksWhenStuck;
            bool snapshot = threadStacks && RunningJobs.All.Any(j => !j.IsAsync && StuckRule.IsStuck(j.Elapsed, threshold)
                && !(_threadStacks.TryGetValue(j, out var known) && Stopwatch.GetElapsedTime(known.ReadAt) < ThreadStackRefresh));
            JobsDump dump = JobScan.Read(JobDumpOptions.Default with { StuckThreshold = threshold, OnlyStuck = true, ReadThreadStacks = snapshot });
            var stuck = new List<StuckWork>(dump.Jobs.Count);
            var seen = new HashSet<RunningJob>(ReferenceEqualityComparer.Instance);
            foreach (ProcessingJob job in dump.Jobs)
            {
                LogicalStack? stack = job.Stack;
                string? note = job.Note;
                if (!job.IsAsync && job.Execution is { } execution)
                {
                    seen.Add(execution);
                    if (stack is not null)
                    {
                        _threadStacks[execution] = (stack, Stopwatch.GetTimestamp());
                    }
                    else if (_threadStacks.TryGetValue(execution, out var known))
                    {
                        (stack, note) = (known.Stack, null);
                    }
                    else if (!threadStacks)
                    {
                        note = "a synchronous job's stack is its worker thread's: set StackscopeHangfireOptions.ReadThreadStacksWhenStuck to read it from a snapshot of this process (1–2 s)";
                    }
                }
                if (stack is null && dump.Errors.Count > 0)
                {
                    note = string.Join("; ", new[] { note }.Concat(dump.Errors).OfType<string>());
                }
                stuck.Add(new StuckWork(Kind, Key(job), job.ToString(), job.Elapsed) { Stack = stack, Note = note, Activity = job.Activity });
            }
            foreach (RunningJob gone in _threadStacks.Keys.Where(k => !seen.Contains(k)).ToList())
            {
                _threadStacks.Remove(gone);
            }
            return stuck;
        }
    }

    /// <summary>
    /// An execution's key: the job's id, its server and its worker thread (a job requeued while it still runs is performed
    /// twice at once, on two workers, and each execution is its own stuck operation).
    /// </summary>
    internal static string Key(ProcessingJob job) => $"{job.JobId} on {job.ServerId} thread {job.ThreadId}";
}
