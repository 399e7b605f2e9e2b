using Stackscope.Glue;
namespace Stackscope.Hangfire.Inspection;

/// <summary>
/// Ties a waiting job to the jobs holding what it waits for.
/// <list type="bullet">
/// <item>A <see cref="SemaphoreSlim"/>, in process: a holder is a job whose stack has a lock scope over that very semaphore
/// (a <c>using</c> of a disposable that releases it). A semaphore itself does not record who entered it, and a
/// <c>lock</c>'s owner is not readable.</item>
/// <item>A distributed lock, across servers: a holder is a job holding a lock on one of the resources the waiter's
/// lock-acquiring frames name (<see cref="DistributedLocks"/>). Run over every server's jobs by a reader.</item>
/// </list>
/// </summary>
internal static class BlockedBy
{
    public static void Annotate(IReadOnlyList<ProcessingJob> jobs)
    {
        AnnotateSemaphores(jobs);
        AnnotateDistributedLocks(jobs);
    }

    private static void AnnotateDistributedLocks(IReadOnlyList<ProcessingJob> jobs)
    {
        foreach (ProcessingJob waiter in jobs)
        {
            if (waiter.AwaitedLockHashes is not { } candidates)
            {
                continue;
            }
            var holders = jobs
                .Where(j => !ReferenceEquals(j, waiter))
                .SelectMany(static j => j.HeldLocks.Select(resource => (Job: j, Resource: resource)))
                .Where(h => candidates.Contains(DistributedLocks.Hash(h.Resource), StringComparer.Ordinal))
                .ToList();
            waiter.AwaitedLock = holders.Count > 0 ? holders[0].Resource : null;
            waiter.BlockedBy = holders.Count == 0
                ? "waits for a distributed lock that no job read here holds in an async frame (a synchronous job's locks and a server that did not answer cannot be read)"
                : $"waits for distributed lock \"{holders[0].Resource}\", held by " + string.Join("; ", holders.Select(static h =>
                    $"job {h.Job.JobId} ({h.Job.Method}) on server {h.Job.ServerId}"));
        }
    }

    private static void AnnotateSemaphores(IReadOnlyList<ProcessingJob> jobs)
    {
        foreach (ProcessingJob waiter in jobs)
        {
            if (waiter.Stack is null || Innermost(waiter.Stack).Leaf is not { Kind: LeafKind.SemaphoreWait } leaf || InProcess.SubjectOf(leaf) is not SemaphoreSlim semaphore)
            {
                continue;
            }
            var holders = jobs
                .Where(j => !ReferenceEquals(j, waiter) && j.Stack is not null)
                .SelectMany(j => Held(j.Stack!).Where(h => ReferenceEquals(InProcess.SubjectOf(h.Resource), semaphore)).Select(h => (Job: j, h.Frame, h.Resource)))
                .ToList();
            waiter.BlockedBy = holders.Count == 0
                ? "the semaphore it waits for is not held in a lock scope by any job this process performs"
                : string.Join("; ", holders.Select(static h =>
                    $"job {h.Job.JobId} ({h.Job.Method}) holds it: {h.Resource.TypeName} {h.Resource.Name} in {h.Frame.DisplayName}{(h.Resource.Location is { } l ? $" ({l.FileName}:line {l.Line})" : "")}"));
        }
    }

    private static LogicalStack Innermost(LogicalStack stack) => stack.Children.Count == 1 ? Innermost(stack.Children[0]) : stack;

    /// <summary>Every resource a stack's frames hold, with its frame, children included.</summary>
    internal static IEnumerable<(LogicalFrame Frame, HeldResource Resource)> Held(LogicalStack stack)
    {
        foreach (LogicalFrame frame in stack.Frames)
        {
            foreach (HeldResource resource in frame.Resources)
            {
                yield return (frame, resource);
            }
        }
        foreach (LogicalStack child in stack.Children)
        {
            foreach (var held in Held(child))
            {
                yield return held;
            }
        }
    }
}
