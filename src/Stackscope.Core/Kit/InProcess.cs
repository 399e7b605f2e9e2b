namespace Stackscope.Glue;

/// <summary>
/// The in-process objects behind parts of a <see cref="LogicalStack"/>, for glue that ties them together (a job waiting
/// for a semaphore to the job holding it in a lock scope). Never rendered; null for stacks read from another process
/// or from JSON. A stack keeps these objects reachable only while it is kept.
/// </summary>
public static class InProcess
{
    /// <summary>The object <paramref name="leaf"/> waits on: the <see cref="SemaphoreSlim"/> a waiter waits for, else the awaited task or source.</summary>
    /// <param name="leaf">The leaf.</param>
    public static object? SubjectOf(StackLeaf leaf) => leaf?.Subject;

    /// <summary>What <paramref name="resource"/> holds: the <see cref="SemaphoreSlim"/> a lock scope holds, else the resource itself.</summary>
    /// <param name="resource">The held resource.</param>
    public static object? SubjectOf(HeldResource resource) => resource?.Subject;
}
