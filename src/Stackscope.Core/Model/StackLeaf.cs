namespace Stackscope;

/// <summary>What the innermost frame of a <see cref="LogicalStack"/> waits on.</summary>
/// <param name="Kind">The kind of awaitable.</param>
/// <param name="Description">A one-line human description, e.g. <c>TaskCompletionSource&lt;bool&gt;.Task (pending)</c>.</param>
/// <param name="TypeName">The full name of the awaited object's type, when there is an object.</param>
public sealed record StackLeaf(LeafKind Kind, string Description, string? TypeName)
{
    /// <summary>
    /// The object waited on, in process: the <see cref="SemaphoreSlim"/> a waiter waits for, else the awaited task or
    /// source. Never rendered, null out of process; glue reads it through <see cref="Glue.InProcess.SubjectOf(StackLeaf)"/>.
    /// </summary>
    internal object? Subject { get; init; }

    /// <inheritdoc />
    public override string ToString() => Description;
}

/// <summary>The kind of a <see cref="StackLeaf"/>.</summary>
public enum LeafKind
{
    /// <summary>An awaitable Stackscope does not know; described by its type, never dropped.</summary>
    Unknown,

    /// <summary>A promise-style task with no code of its own: a <see cref="TaskCompletionSource"/>'s task or similar.</summary>
    TaskCompletionSource,

    /// <summary><see cref="Task.Delay(int)"/>.</summary>
    Delay,

    /// <summary><see cref="SemaphoreSlim.WaitAsync()"/>.</summary>
    SemaphoreWait,

    /// <summary>An <see cref="System.Threading.Tasks.Sources.IValueTaskSource"/> behind a <see cref="ValueTask"/>.</summary>
    ValueTaskSource,

    /// <summary><see cref="Task.Yield"/>: queued to run again.</summary>
    Yield,

    /// <summary>A task running a delegate (<see cref="Task.Run(Action)"/>, <c>StartNew</c>).</summary>
    DelegateTask,

    /// <summary>A combinator task the runtime keeps no downward reference for (<c>WhenAll</c>, <c>WhenAny</c>).</summary>
    Combinator,

    /// <summary>An iterator suspended at <c>yield return</c>, waiting for its consumer to ask for the next item.</summary>
    IteratorYield,

    /// <summary>A channel read or write waiting for an item or for room (<c>System.Threading.Channels</c>).</summary>
    Channel,

    /// <summary>A timer: <see cref="PeriodicTimer.WaitForNextTickAsync"/>.</summary>
    Timer,

    /// <summary>An object described by glue (see <see cref="IStackscopeGlue"/>).</summary>
    Custom,

    /// <summary>The awaited operation already completed successfully; the frame will resume shortly.</summary>
    Completed,

    /// <summary>The awaited operation faulted.</summary>
    Faulted,

    /// <summary>The awaited operation was canceled.</summary>
    Canceled,

    /// <summary>
    /// An operation several stacks of a forest await (a task awaited by several callers): shown once, as its own stack with
    /// its awaiters as <see cref="LogicalStack.AwaitedBy"/>; the awaiting stacks end here.
    /// </summary>
    Shared,
}

/// <summary>A problem met during extraction, recorded instead of thrown.</summary>
/// <param name="Message">What went wrong and where.</param>
/// <param name="ExceptionType">The full type name of the exception caught, if one was.</param>
public sealed record StackError(string Message, string? ExceptionType = null)
{
    /// <inheritdoc />
    public override string ToString() => ExceptionType is null ? Message : $"{Message} ({ExceptionType})";
}
