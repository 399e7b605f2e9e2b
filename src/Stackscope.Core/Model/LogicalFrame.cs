using System.Reflection;

namespace Stackscope;

/// <summary>One frame of a <see cref="LogicalStack"/>: an async method, an iterator, a synchronous method, or a combinator.</summary>
public sealed class LogicalFrame
{
    internal LogicalFrame(
        FrameKind kind,
        string displayName,
        MethodBase? method,
        FrameState state,
        int? awaitNumber,
        SourceLocation? location,
        FrameFlags flags = FrameFlags.None,
        int? yieldNumber = null,
        IReadOnlyList<HeldResource>? resources = null,
        IReadOnlyList<LinkedStack>? links = null,
        string? declaringTypeName = null,
        string? methodName = null)
    {
        YieldNumber = yieldNumber;
        DeclaringTypeName = declaringTypeName ?? method?.DeclaringType?.FullName;
        MethodName = methodName ?? method?.Name;
        Resources = resources ?? Array.Empty<HeldResource>();
        Links = links ?? Array.Empty<LinkedStack>();
        Kind = kind;
        DisplayName = displayName;
        Method = method;
        State = state;
        AwaitNumber = awaitNumber;
        Location = location;
        Flags = flags;
    }

    /// <summary>What kind of code this frame is.</summary>
    public FrameKind Kind { get; }

    /// <summary>
    /// The method as written, e.g. <c>async Task&lt;int&gt; OrderService.PlaceAsync(Order order)</c>; lambdas
    /// and local functions are named after their containing method.
    /// </summary>
    public string DisplayName { get; }

    /// <summary>
    /// The method as declared in source (the async method, not its state machine's <c>MoveNext</c>),
    /// or <see langword="null"/> when not known (combinators, frames read out of process).
    /// </summary>
    public MethodBase? Method { get; }

    /// <summary>
    /// The full name of the method's declaring type (for a lambda or local function, the compiler-generated
    /// type holding it), or null when no method is known. Set in and out of process alike, where
    /// <see cref="Method"/> is only set in process.
    /// </summary>
    public string? DeclaringTypeName { get; }

    /// <summary>The method's metadata name (<c>PlaceAsync</c>; lambdas keep their compiler name), or null.</summary>
    public string? MethodName { get; }

    /// <summary>The frame's state when it was read.</summary>
    public FrameState State { get; }

    /// <summary>
    /// The await the frame is suspended at, counting from 1 in the order the compiler numbers a method's
    /// awaits (source order). <see langword="null"/> when the frame is not suspended at an await.
    /// </summary>
    public int? AwaitNumber { get; }

    /// <summary>
    /// The <c>yield return</c> an iterator frame is suspended at, counting from 1 in source order.
    /// <see langword="null"/> when the frame is not suspended at a yield.
    /// </summary>
    public int? YieldNumber { get; }

    /// <summary>
    /// Where the frame is: for a suspended frame the statement of the await (or yield) it is suspended at;
    /// for a running thread frame the current statement. <see langword="null"/> without symbols.
    /// </summary>
    public SourceLocation? Location { get; }

    /// <summary>Extra facts about this frame.</summary>
    public FrameFlags Flags { get; }

    /// <summary>
    /// The <c>using</c> and <c>await using</c> resources (and <c>await foreach</c> enumerators) active at the
    /// point the frame is suspended, outermost first: the .NET counterpart of Python's active context managers.
    /// Resources already disposed are not listed.
    /// </summary>
    public IReadOnlyList<HeldResource> Resources { get; }

    /// <summary>
    /// Stacks that glue linked to this frame: work it waits for across a message, a thread or a process
    /// (for example "continues in actor /user/b").
    /// </summary>
    public IReadOnlyList<LinkedStack> Links { get; }

    internal LogicalFrame With(IReadOnlyList<LinkedStack> links, FrameFlags flags) =>
        new(Kind, DisplayName, Method, State, AwaitNumber, Location, flags, YieldNumber, Resources, links, DeclaringTypeName, MethodName);

    /// <inheritdoc />
    public override string ToString() => Location is { } l ? $"{DisplayName} in {l}" : DisplayName;
}

/// <summary>A file and line in source.</summary>
/// <param name="FilePath">The source file's path as recorded in the PDB.</param>
/// <param name="Line">The 1-based line.</param>
/// <param name="Column">The 1-based column, or 0 when not known.</param>
public sealed record SourceLocation(string FilePath, int Line, int Column)
{
    /// <summary>The file name without its folder.</summary>
    public string FileName => Path.GetFileName(FilePath);

    /// <inheritdoc />
    public override string ToString() => $"{FilePath}:line {Line}";
}

/// <summary>The kind of code a <see cref="LogicalFrame"/> stands for.</summary>
public enum FrameKind
{
    /// <summary>An <c>async</c> method, lambda or local function returning a task-like type.</summary>
    Async,

    /// <summary>An <c>async</c> iterator (<see cref="IAsyncEnumerable{T}"/>/<see cref="IAsyncEnumerator{T}"/>).</summary>
    AsyncIterator,

    /// <summary>A synchronous iterator (<c>yield return</c> producing <see cref="IEnumerable{T}"/>/<see cref="IEnumerator{T}"/>).</summary>
    Iterator,

    /// <summary>An ordinary method running on a thread.</summary>
    Sync,

    /// <summary>
    /// A runtime combinator between a caller and the operations it waits for: <c>Task.WhenAll</c>,
    /// <c>Task.WhenAny</c>, <c>ContinueWith</c>, the unwrapping of <c>Task.Run(async ...)</c>.
    /// </summary>
    Combinator,
}

/// <summary>The state of a <see cref="LogicalFrame"/>.</summary>
public enum FrameState
{
    /// <summary>Not known (for example, the frame changed while being read).</summary>
    Unknown,

    /// <summary>Created but not started (an iterator not yet enumerated).</summary>
    NotStarted,

    /// <summary>Suspended at an await or a <c>yield return</c> (<see cref="LogicalFrame.AwaitNumber"/> or <see cref="LogicalFrame.YieldNumber"/> says which).</summary>
    Suspended,

    /// <summary>Running on some thread now.</summary>
    Running,

    /// <summary>Finished successfully.</summary>
    Completed,

    /// <summary>Finished with an exception.</summary>
    Faulted,

    /// <summary>Finished by cancellation.</summary>
    Canceled,
}

/// <summary>Extra facts about a <see cref="LogicalFrame"/>.</summary>
[Flags]
public enum FrameFlags
{
    /// <summary>Nothing special.</summary>
    None = 0,

    /// <summary>
    /// The thread/async junction: this thread frame is an async method resumed by a continuation. The
    /// frames above it are its logical callers awaiting it, not the thread-pool machinery that resumed it.
    /// </summary>
    AsyncJunction = 1,

    /// <summary>This frame is the object the extraction started from.</summary>
    Root = 2,

    /// <summary>A thread blocked synchronously on the task below it (<c>Wait()</c>, <c>.Result</c>, <c>GetAwaiter().GetResult()</c>).</summary>
    BlockingWait = 4,

    /// <summary>Glue pruned what this frame awaits: the stack deliberately ends here.</summary>
    Pruned = 8,
}

/// <summary>A resource held by a suspended frame: a <c>using</c> or <c>await using</c> variable, or an <c>await foreach</c> enumerator.</summary>
/// <param name="Name">The variable name, or null for <c>using (expression)</c> and enumerators.</param>
/// <param name="TypeName">The resource's runtime type, as C# writes it.</param>
/// <param name="IsAsync">True for <c>await using</c> and <c>await foreach</c> (disposed with <c>DisposeAsync</c>).</param>
/// <param name="Location">The <c>using</c> statement, or null without symbols.</param>
/// <param name="Description">A one-line description for known kinds (a lock scope, a cancellation source, an activity), or null.</param>
/// <param name="InnerStack">For a resource that is itself suspended async code (an async iterator), its stack.</param>
public sealed record HeldResource(string? Name, string TypeName, bool IsAsync, SourceLocation? Location, string? Description, LogicalStack? InnerStack)
{
    /// <summary>
    /// What is held, in process: the <see cref="SemaphoreSlim"/> a lock scope holds, else the resource itself. Never
    /// rendered, null out of process; glue reads it through <see cref="Glue.InProcess.SubjectOf(HeldResource)"/>.
    /// </summary>
    internal object? Subject { get; init; }

    /// <inheritdoc />
    public override string ToString() =>
        $"{(IsAsync ? "await using" : "using")} {TypeName}{(Name is null ? string.Empty : " " + Name)}{(Description is null ? string.Empty : ": " + Description)}";
}

/// <summary>A stack linked to a frame by glue, with a label saying how they relate.</summary>
/// <param name="Label">How the frame relates to the linked stack, e.g. "continues in actor /user/b".</param>
/// <param name="Stack">The linked stack.</param>
public sealed record LinkedStack(string Label, LogicalStack Stack);
