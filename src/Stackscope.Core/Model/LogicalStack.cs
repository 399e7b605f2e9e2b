namespace Stackscope;

/// <summary>
/// A logical stack: a chain of frames from the outermost caller to the innermost callee, the
/// <see cref="Leaf"/> the innermost frame waits on, the callers that await the outermost frame
/// (<see cref="AwaitedBy"/>), and every problem met while extracting it (<see cref="Errors"/>).
/// </summary>
/// <remarks>
/// A stack is an immutable snapshot. It holds no reference to the tasks or state machines it was
/// read from, so keeping it does not keep the program's objects alive.
/// <para>
/// When exactly one chain of callers awaits the outermost frame, those callers are merged into
/// <see cref="Frames"/> and <see cref="AwaitedBy"/> is empty. When several callers await the same
/// operation (a task awaited twice, a task in two <c>WhenAll</c> calls) the stack forks: <see cref="Frames"/>
/// starts at the shared operation and each caller chain is one entry of <see cref="AwaitedBy"/>,
/// whose last frame awaits this stack's first frame.
/// </para>
/// </remarks>
public sealed class LogicalStack
{
    internal static readonly IReadOnlyList<LogicalStack> NoStacks = Array.Empty<LogicalStack>();
    internal static readonly IReadOnlyList<StackError> NoErrors = Array.Empty<StackError>();

    internal LogicalStack(
        IReadOnlyList<LogicalFrame> frames,
        StackLeaf? leaf,
        IReadOnlyList<LogicalStack>? awaitedBy,
        IReadOnlyList<StackError>? errors,
        bool isTruncated,
        IReadOnlyList<LogicalStack>? children = null)
    {
        Children = children ?? NoStacks;
        Frames = frames;
        Leaf = leaf;
        AwaitedBy = awaitedBy ?? NoStacks;
        Errors = errors ?? NoErrors;
        IsTruncated = isTruncated;
    }

    /// <summary>
    /// This stack without its <paramref name="count"/> outermost frames: e.g. a worker thread's stack from the job method
    /// inward, without the framework frames that called it. Leaf, branches and errors are kept; awaited-by links, which
    /// attach to the outermost frame, are not.
    /// </summary>
    public LogicalStack WithoutOuterFrames(int count) =>
        count <= 0 ? this : new LogicalStack(Frames.Skip(count).ToList(), Leaf, NoStacks, Errors, IsTruncated, Children);

    /// <summary>The frames, outermost caller first, innermost callee last.</summary>
    public IReadOnlyList<LogicalFrame> Frames { get; }

    /// <summary>
    /// What the innermost frame waits on (a <see cref="TaskCompletionSource"/>'s task, a delay, an
    /// <see cref="System.Threading.Tasks.Sources.IValueTaskSource"/>, ...), or <see langword="null"/> when the
    /// innermost frame is running or finished and waits on nothing.
    /// </summary>
    public StackLeaf? Leaf { get; }

    /// <summary>
    /// The caller chains awaiting this stack's outermost frame when more than one does; empty when
    /// there is at most one (it is then part of <see cref="Frames"/>).
    /// </summary>
    public IReadOnlyList<LogicalStack> AwaitedBy { get; }

    /// <summary>
    /// The operations the <see cref="Leaf"/> combines, each as its own stack, when it is a branch point:
    /// the tasks of a <c>Task.WhenAll</c> or <c>WhenAny</c>, the task under a <c>WaitAsync</c>, the workers of a
    /// <c>Parallel.ForEachAsync</c>, or objects glue unwrapped into several. The tree Python's stackscope
    /// prints for a Trio nursery.
    /// </summary>
    public IReadOnlyList<LogicalStack> Children { get; }

    /// <summary>Problems met while extracting, in the order met. Extraction records them instead of throwing.</summary>
    public IReadOnlyList<StackError> Errors { get; }

    /// <summary>
    /// <see langword="true"/> when extraction stopped early: the depth limit was reached or a cycle was
    /// found. The reason is in <see cref="Errors"/>.
    /// </summary>
    public bool IsTruncated { get; }

    /// <summary>The innermost frame, or <see langword="null"/> when the stack has no frames.</summary>
    public LogicalFrame? InnermostFrame => Frames.Count == 0 ? null : Frames[^1];

    /// <summary>Renders the stack as a tree with box-drawing characters (see <see cref="StackFormat.Tree"/>).</summary>
    public override string ToString() => StackFormatter.Format(this, StackFormat.Tree);

    /// <summary>Renders the stack in the given format.</summary>
    /// <param name="format">The output format.</param>
    public string ToString(StackFormat format) => StackFormatter.Format(this, format);

    /// <summary>
    /// This stack as an exception whose stack trace is its frames (see <see cref="Monitoring.LogicalStackException"/>): for
    /// error trackers and log sinks that take only .NET's own types. The exception is returned, never thrown.
    /// </summary>
    /// <param name="message">Its message; null for "waiting on &lt;leaf&gt;".</param>
    /// <param name="inner">An exception it explains (a timeout), or null.</param>
    public Monitoring.LogicalStackException ToException(string? message = null, Exception? inner = null) => new(this, message, inner);

    /// <summary>
    /// Reads a stack from its JSON form (<see cref="StackFormat.Json"/>, schema <c>stackscope/1</c>): how stacks cross
    /// processes. Frames keep their names, locations, states, resources and links; <see cref="LogicalFrame.Method"/> is null.
    /// </summary>
    /// <param name="json">A document written by <c>ToString(StackFormat.Json)</c>, or one stack object of it.</param>
    /// <exception cref="FormatException">The text is not a stack's JSON; the message says why, in one line.</exception>
    public static LogicalStack FromJson(string json) => JsonStackReader.Read(json);
}
