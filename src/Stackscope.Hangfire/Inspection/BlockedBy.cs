using Stackscope.Glue;
namespace Stackscope.Hangfire.Inspection;

/// <summary>
/// Ties a job waiting for a <see cref="SemaphoreSlim"/> to the jobs holding it: a holder is a job whose stack has
/// a lock scope over that very semaphore (a <c>using</c> of a disposable that releases it). That is what can be
/// known in process: a semaphore itself does not record who entered it, and a <c>lock</c>'s owner is not readable.
/// </summary>
internal static class BlockedBy
{
    public static void Annotate(IReadOnlyList<ProcessingJob> jobs)
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

    private static IEnumerable<(LogicalFrame Frame, HeldResource Resource)> Held(LogicalStack stack)
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
