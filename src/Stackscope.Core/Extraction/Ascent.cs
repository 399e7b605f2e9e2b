namespace Stackscope.Extraction;

/// <summary>
/// One source of async operations, asked by <see cref="Ascent"/>: this process's objects (<see cref="Walker"/>) or a
/// target's heap (Stackscope.Diagnostics). A source keeps its own limits, visited set and errors.
/// </summary>
/// <typeparam name="T">A reference to an object: the object itself in process, a heap object out of process.</typeparam>
internal interface IAscentSource<T>
{
    /// <summary>
    /// What awaits <paramref name="value"/>: for each awaiter, the frame it shows (null if hidden) and what the walk goes
    /// on up from (nothing past a thread blocked on it, or a continuation that is not an operation).
    /// </summary>
    IReadOnlyList<(LogicalFrame? Frame, T Next)> Callers(T value);

    /// <summary>Whether the walk may go on up from <paramref name="next"/>; false ends the chain (the source has recorded why, if it says).</summary>
    /// <param name="next">The caller just shown.</param>
    /// <param name="depth">The chain's frames so far.</param>
    bool Enter(T next, int depth);
}

/// <summary>
/// The walk up from an operation through what awaits it, written once for both sides of the process boundary: one
/// awaiter continues the chain; several are branches, each its own chain of callers; a thread blocked on it is one.
/// </summary>
internal static class Ascent
{
    /// <summary>Why a walk up ended at an operation it had met already: it awaits itself through its callers.</summary>
    /// <param name="name">The operation, as its frame is named.</param>
    public static string Cycle(string name) => $"cycle: {name} is awaited, through its callers, by itself (a deadlock)";

    /// <summary>Why a walk up ended with callers left: the chain reached the depth limit.</summary>
    public static string DepthLimit(int maxDepth) => $"depth limit of {maxDepth} frames reached walking up";

    /// <summary>Appends the callers of <paramref name="start"/> to <paramref name="up"/>, innermost first, while each has one; returns the branches where several await.</summary>
    public static IReadOnlyList<LogicalStack>? Walk<TSource, T>(TSource source, T start, List<LogicalFrame> up)
        where TSource : IAscentSource<T>
    {
        T current = start;
        while (true)
        {
            IReadOnlyList<(LogicalFrame? Frame, T Next)> callers = source.Callers(current);
            if (callers.Count == 0)
            {
                return null;
            }
            if (callers.Count > 1)
            {
                return Branches(source, callers);
            }
            if (callers[0].Frame is { } frame)
            {
                up.Add(frame);
            }
            if (!source.Enter(callers[0].Next, up.Count))
            {
                return null;
            }
            current = callers[0].Next;
        }
    }

    /// <summary>Each of <paramref name="callers"/> as a branch: its frame and its own callers, outermost first.</summary>
    public static List<LogicalStack> Branches<TSource, T>(TSource source, IReadOnlyList<(LogicalFrame? Frame, T Next)> callers)
        where TSource : IAscentSource<T>
    {
        var branches = new List<LogicalStack>(callers.Count);
        foreach (var (frame, next) in callers)
        {
            var chain = new List<LogicalFrame>();
            if (frame is not null)
            {
                chain.Add(frame);
            }
            IReadOnlyList<LogicalStack>? nested = source.Enter(next, chain.Count) ? Walk(source, next, chain) : null;
            chain.Reverse();
            branches.Add(new LogicalStack(chain, null, nested, null, false));
        }
        return branches;
    }
}
