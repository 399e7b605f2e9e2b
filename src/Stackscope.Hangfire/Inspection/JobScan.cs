using System.Reflection;
using System.Runtime.CompilerServices;
using Stackscope.Diagnostics;
using Stackscope.Glue;
using Stackscope.Hangfire.Tracking;

namespace Stackscope.Hangfire.Inspection;

/// <summary>
/// Builds a <see cref="JobsDump"/> from the running-jobs registry: an async job's task chain is its job method's
/// async box among the tracked tasks, recognized by the job its captured execution context belongs to; a
/// synchronous job's stack is its worker thread's, from a snapshot of this process. Never throws.
/// </summary>
internal static class JobScan
{
    /// <summary>Reads the jobs this process performs; with <paramref name="serverId"/>, only that server's.</summary>
    public static JobsDump Read(JobDumpOptions options, string? serverId = null)
    {
        var errors = new List<string>();
        var running = RunningJobs.All.Where(j => serverId is null || j.ServerId == serverId).Select(j => (Job: j, Elapsed: j.Elapsed))
            .Where(j => !options.OnlyStuck || StuckRule.IsStuck(j.Elapsed, options.StuckThreshold))
            .OrderByDescending(static j => j.Elapsed).Select(static j => j.Job).ToList();
        var jobs = new List<ProcessingJob>(running.Count);
        Dictionary<RunningJob, (Task Root, System.Diagnostics.Activity? Activity)>? roots = null;
        ProcessSnapshot? snapshot = null;
        foreach (RunningJob job in running)
        {
            ProcessingJob dump = Describe(job, options);
            dump.IsStuck = StuckRule.IsStuck(dump.Elapsed, options.StuckThreshold);
            try
            {
                if (job.IsAsync)
                {
                    roots ??= AsyncRoots(errors);
                    if (roots.TryGetValue(job, out var root))
                    {
                        dump.Activity = root.Activity ?? job.Activity;
                        dump.Stack = StackExtractor.Extract(root.Root, options.Extract with { IncludeAwaitedBy = false });
                        dump.HeldLocks = DistributedLocks.HeldBy(dump.Stack);
                    }
                    else
                    {
                        dump.Note = TaskTracking.IsEnabled
                            ? "its async method has not been found among the tracked tasks (it may have just completed)"
                            : "an async job's task chain is found with TaskTracking on (UseStackscope(o => o.TrackAsyncJobs = true))";
                    }
                }
                else if (options.ReadThreadStacks)
                {
                    snapshot ??= Snapshot(errors);
                    ThreadStack? thread = snapshot?.Threads.FirstOrDefault(t => t.ManagedThreadId == job.ThreadId);
                    dump.Stack = thread is null ? null : FromJobMethod(thread.Stack, job.Method);
                    dump.AwaitedLockHashes = thread is null ? null : DistributedLocks.AwaitedCandidates(thread);
                    dump.Note = thread is null ? "its worker thread was not found in the snapshot" : null;
                }
                else
                {
                    dump.Note = "a synchronous job's stack is its worker thread's: ReadThreadStacks reads it from a snapshot of this process";
                }
            }
            catch (Exception e)
            {
                errors.Add($"job {job.JobId}: {e.GetType().Name}: {e.Message}");
            }
            jobs.Add(dump);
        }
        BlockedBy.Annotate(jobs);
        return new JobsDump(jobs, options.StuckThreshold, errors);
    }

    private static ProcessingJob Describe(RunningJob job, JobDumpOptions options) => new(
        job.JobId,
        job.Method is { } m ? $"{TypeNames.Format(job.Job!.Type)}.{m.Name}" : "?",
        Arguments(job, options.MaxArgumentText),
        job.ServerId,
        job.ThreadId,
        job.ThreadName,
        job.StartedAt,
        job.Elapsed,
        job.IsAsync)
    {
        Execution = job,
        Activity = job.Activity,
    };

    private static string Arguments(RunningJob job, int max)
    {
        try
        {
            string text = string.Join(", ", (job.Job?.Args ?? Array.Empty<object>()).Select(static a => a switch
            {
                null => "null",
                string s => "\"" + s + "\"",
                CancellationToken => "CancellationToken",
                _ => a.ToString() ?? "",
            }));
            return text.Length > max ? text[..max] + "…" : text;
        }
        catch (Exception e)
        {
            return $"(rendering threw {e.GetType().Name})";
        }
    }

    /// <summary>
    /// The job methods' async boxes among the tracked tasks. A box belongs to the job whose execution context it
    /// captured, and is the job's root only if it runs that job method's state machine: the async methods the job
    /// calls capture the same context.
    /// </summary>
    private static Dictionary<RunningJob, (Task Root, System.Diagnostics.Activity? Activity)> AsyncRoots(List<string> errors)
    {
        var roots = new Dictionary<RunningJob, (Task, System.Diagnostics.Activity?)>(ReferenceEqualityComparer.Instance);
        var jobMethods = RunningJobs.All.Where(static j => j.IsAsync && j.Method is not null).Select(static j => j.Method!).ToList();
        if (jobMethods.Count == 0)
        {
            return roots;
        }
        if (!TaskGraph.TryTrackedTasks(out IReadOnlyList<Task> tracked, out string? busy))
        {
            errors.Add(busy + "; async jobs are shown without their stacks");
        }
        foreach (Task task in tracked)
        {
            // Only a job method's own box can be a job's root: the async methods a job calls capture the same context.
            if (task.IsCompleted || TaskGraph.AsyncMethodOf(task) is not { } method || !jobMethods.Any(m => m.HasSameMetadataDefinitionAs(method)))
            {
                continue;
            }
            var (owner, activity) = RunningJobs.ContextOf(task);
            if (owner is { Method: { } owned } && owned.HasSameMetadataDefinitionAs(method))
            {
                roots.TryAdd(owner, (task, activity));
            }
        }
        return roots;
    }

    private static ProcessSnapshot? Snapshot(List<string> errors)
    {
        try
        {
            return ProcessInspector.CaptureCurrentProcess(InspectOptions.Default with { IncludeHeap = false, IncludeFrameStrings = true });
        }
        catch (Exception e)
        {
            errors.Add($"the worker threads' stacks could not be read: {e.Message}");
            return null;
        }
    }

    /// <summary>A worker thread's stack from the job method inward (Hangfire's own frames above it are not the job's).</summary>
    private static LogicalStack FromJobMethod(LogicalStack stack, MethodInfo? method)
    {
        int start = method is null ? -1 : stack.Frames.ToList().FindIndex(f => f.MethodName == method.Name &&
            (f.Method?.DeclaringType == method.DeclaringType || f.DeclaringTypeName is { } name && (name == method.DeclaringType!.FullName || name == TypeNames.Format(method.DeclaringType!))));
        return stack.WithoutOuterFrames(start);
    }
}
