namespace Stackscope.Extraction;

/// <summary>
/// What a combinator, or an object glue knows, continues into: the frame or branches <see cref="Descent"/> makes of it.
/// </summary>
/// <param name="Description">What it is (<c>Task.WhenAll of 5 tasks, 3 pending</c>): the combinator frame's name, or the leaf's text.</param>
/// <param name="Next">What it waits for: none makes it a leaf; one continues the stack through a combinator frame; several are branches.</param>
/// <param name="State">The combinator frame's state.</param>
/// <param name="AlwaysBranches">Whether even one child is a branch (children recovered from their continuations, but for an Unwrap's one).</param>
/// <param name="TypeName">The leaf's type name, if it ends the stack.</param>
internal sealed record Continuation<T>(string Description, IReadOnlyList<T> Next, FrameState State, bool AlwaysBranches, string? TypeName);

/// <summary>
/// One source of async operations, asked by <see cref="Descent"/>: this process's objects (<see cref="Walker"/>) or a
/// target's heap (Stackscope.Diagnostics). A source keeps its own limits, visited set and errors.
/// </summary>
/// <typeparam name="T">A reference to an object: the object itself in process, a heap object out of process.</typeparam>
internal interface IDescentSource<T>
{
    bool IsNull(T value);

    /// <summary>Whether the walk may read <paramref name="value"/>; false (the source has recorded why: a depth limit, a cycle) ends the stack, unfinished.</summary>
    /// <param name="value">The next object of the stack.</param>
    /// <param name="depth">The frames read so far.</param>
    bool Enter(T value, int depth);

    /// <summary>
    /// Whether <paramref name="value"/> is a stack read elsewhere that continues this one as it is (glue's answer from
    /// another process): if so, its frames are appended and its leaf and branches end this one.
    /// </summary>
    bool Ready(T value, List<LogicalFrame> frames, out StackLeaf? leaf, out IReadOnlyList<LogicalStack>? children);

    /// <summary>The leaf of an operation several stacks await (a root of its own), reached from a caller; null if it is not one.</summary>
    /// <param name="value">The operation.</param>
    /// <param name="depth">The frames read so far.</param>
    /// <param name="start">Whether the walk starts at it.</param>
    StackLeaf? Shared(T value, int depth, bool start);

    /// <summary>Whether <paramref name="value"/> only stands for another object (a task standing for an IValueTaskSource): what it waits for.</summary>
    bool Forwards(T value, out T next);

    /// <summary>
    /// Reads a suspended async method or iterator: false if <paramref name="value"/> is not one. Its frame is null when it is
    /// hidden; the walk continues with <paramref name="next"/> unless the frame ends at <paramref name="leaf"/>, or glue
    /// <paramref name="prune"/>s the stack there.
    /// </summary>
    bool Frame(T value, FrameFlags flags, out LogicalFrame? frame, out T next, out StackLeaf? leaf, out bool prune);

    /// <summary>What a combinator, or an object glue knows, continues into; null for anything else.</summary>
    Continuation<T>? Unwrap(T value);

    /// <summary>The leaf the stack ends at: <paramref name="value"/>, awaited by the frame read last (null if none was).</summary>
    StackLeaf? Leaf(T value, T lastFrame);

    /// <summary>The stacks of the branches a combinator waits for.</summary>
    IReadOnlyList<LogicalStack> Branches(IReadOnlyList<T> next);
}

/// <summary>
/// The walk down one stack, written once for both sides of the process boundary: from an operation through what each
/// frame awaits to the leaf, through combinators with one pending child as frames, ending at branch points with several.
/// In process it reads objects (<see cref="Walker"/>); out of process, a target's heap, through the same steps in the same
/// order, so a stack read from a dump is shaped as the process's own extraction shapes it.
/// </summary>
internal static class Descent
{
    /// <summary>Why a walk down ended at its depth limit (<see cref="ExtractOptions.MaxDepth"/>).</summary>
    public static string DepthLimit(int maxDepth) => $"depth limit of {maxDepth} frames reached walking down";

    /// <summary>Why a walk down ended at an operation it had read already: it awaits itself through its callees.</summary>
    /// <param name="name">The operation, as its frame is named.</param>
    /// <param name="depth">The frames read so far.</param>
    public static string Cycle(string name, int depth) => $"cycle: {name} is reached again through {depth} frame(s) (a deadlock if nothing else completes it)";

    /// <summary>The frame a combinator shows as (<c>Task.WhenAll of 5 tasks, 3 pending</c>), walking down or up.</summary>
    public static LogicalFrame Combinator(string name, FrameState state) => new(FrameKind.Combinator, name, null, state, null, null);

    /// <summary>Walks down from <paramref name="start"/>, appending frames outermost first; returns the leaf.</summary>
    /// <param name="source">What the objects are.</param>
    /// <param name="start">Where the stack starts.</param>
    /// <param name="frames">The frames so far (a caller's, or a blocked thread's wait); the walk appends to them.</param>
    /// <param name="flags">The first frame's flags (<see cref="FrameFlags.Root"/>).</param>
    /// <param name="children">The branches, when the stack ends at a combinator waiting for several.</param>
    public static StackLeaf? Walk<TSource, T>(TSource source, T start, List<LogicalFrame> frames, FrameFlags flags, out IReadOnlyList<LogicalStack>? children)
        where TSource : IDescentSource<T>
    {
        children = null;
        T current = start;
        T lastFrame = default!;
        bool first = true;
        while (!source.IsNull(current))
        {
            if (!source.Enter(current, frames.Count))
            {
                return null;
            }
            if (source.Ready(current, frames, out StackLeaf? readyLeaf, out children))
            {
                return readyLeaf;
            }
            if (source.Shared(current, frames.Count, first) is { } shared)
            {
                return shared;
            }
            first = false;
            if (source.Forwards(current, out T forwarded))
            {
                current = forwarded;
                continue;
            }
            if (source.Frame(current, flags, out LogicalFrame? frame, out T next, out StackLeaf? leaf, out bool prune))
            {
                if (frame is not null)
                {
                    frames.Add(frame);
                }
                if (prune)
                {
                    return null;
                }
                if (leaf is not null)
                {
                    return leaf;
                }
                lastFrame = current;
                current = next;
                flags = FrameFlags.None;
                continue;
            }
            if (source.Unwrap(current) is { } unwrapped)
            {
                if (!unwrapped.AlwaysBranches && unwrapped.Next.Count == 0)
                {
                    return new StackLeaf(LeafKind.Custom, unwrapped.Description, unwrapped.TypeName);
                }
                if (!unwrapped.AlwaysBranches && unwrapped.Next.Count == 1)
                {
                    frames.Add(Combinator(unwrapped.Description, unwrapped.State));
                    current = unwrapped.Next[0];
                    continue;
                }
                children = source.Branches(unwrapped.Next);
                return new StackLeaf(LeafKind.Combinator, unwrapped.Description, unwrapped.TypeName);
            }
            return source.Leaf(current, lastFrame);
        }
        return null;
    }
}
