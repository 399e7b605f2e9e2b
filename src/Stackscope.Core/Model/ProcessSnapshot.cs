namespace Stackscope;

/// <summary>One managed thread of a <see cref="ProcessSnapshot"/>.</summary>
/// <param name="ManagedThreadId">The managed thread id (<see cref="Environment.CurrentManagedThreadId"/> on that thread).</param>
/// <param name="OSThreadId">The operating system's thread id, or 0 when not known.</param>
/// <param name="Name">The thread's name, or null.</param>
/// <param name="State">The runtime's view of the thread's state, e.g. "Background, WaitSleepJoin".</param>
/// <param name="Stack">
/// The thread's frames, outermost first. A thread running an async method continues into the method's
/// logical awaiting callers; a thread blocked on a task continues into that task's logical stack.
/// </param>
public sealed record ThreadStack(int ManagedThreadId, uint OSThreadId, string? Name, string State, LogicalStack Stack)
{
    /// <summary>
    /// The strings the thread's frames keep alive, innermost frame first, as the runtime's GC information reports them
    /// (arguments and locals still in use; unnamed, and a frame may hold strings it only derived). Read out of process when
    /// asked for (Stackscope.Diagnostics' <c>InspectOptions.IncludeFrameStrings</c>); empty otherwise.
    /// </summary>
    public IReadOnlyList<FrameString> FrameStrings { get; init; } = Array.Empty<FrameString>();
}

/// <summary>A string one frame of a thread keeps alive: what the frame works on, e.g. the name of a lock it waits for.</summary>
/// <param name="Method">The frame's method, <c>Namespace.Type.Method</c> as the runtime names it.</param>
/// <param name="Text">The string, cut at <see cref="MaxLength"/> characters (then ending in "…").</param>
public sealed record FrameString(string Method, string Text)
{
    /// <summary>The most characters of a string kept.</summary>
    public const int MaxLength = 1000;
}

/// <summary>
/// Everything a process is doing at one moment: every managed thread's stack and the forest of pending
/// async operations. The same model whether read in process or out of process (attach or core dump); only
/// <see cref="Source"/> says which.
/// </summary>
public sealed class ProcessSnapshot
{
    /// <summary>Creates a snapshot.</summary>
    /// <param name="source">Who produced it: "in-process", "attach" or "dump".</param>
    /// <param name="processId">The process id, or 0 when not known (a dump that does not record it); 0 is left out of the text and JSON.</param>
    /// <param name="threads">The managed threads.</param>
    /// <param name="forest">The pending async operations, grouped.</param>
    /// <param name="errors">Problems met while reading.</param>
    public ProcessSnapshot(string source, int processId, IReadOnlyList<ThreadStack> threads, StackForest forest, IReadOnlyList<StackError> errors)
    {
        Source = source;
        ProcessId = processId;
        Threads = threads;
        Forest = forest;
        Errors = errors;
    }

    /// <summary>Who produced the snapshot: "in-process", "attach" or "dump".</summary>
    public string Source { get; }

    /// <summary>The process id, or 0 when not known (then left out of the text and JSON renderings).</summary>
    public int ProcessId { get; }

    /// <summary>The managed threads, in the runtime's order.</summary>
    public IReadOnlyList<ThreadStack> Threads { get; }

    /// <summary>The pending async operations as a forest, identical stacks grouped with counts.</summary>
    public StackForest Forest { get; }

    /// <summary>Problems met while reading the process.</summary>
    public IReadOnlyList<StackError> Errors { get; }

    /// <summary>Renders the snapshot as text trees.</summary>
    public override string ToString() => ToString(StackFormat.Tree);

    /// <summary>Renders the snapshot in <paramref name="format"/>.</summary>
    /// <param name="format">The format.</param>
    public string ToString(StackFormat format) => SnapshotFormatter.Format(this, format);
}
