namespace Stackscope.Glue;

/// <summary>
/// A cycle of work each waiting for the next: actors asking each other, grains calling each other, jobs each holding
/// what the next one needs. Reported by every glue the same way.
/// </summary>
/// <param name="Kind">What waits for what, e.g. <c>Ask cycle</c> or <c>call cycle</c>.</param>
/// <param name="Cycle">The members in waiting order (each waits for the next, the last for the first), starting at the
/// ordinally smallest name so one cycle is always reported the same way; the first is not repeated at the end.</param>
public sealed record Deadlock(string Kind, IReadOnlyList<string> Cycle)
{
    /// <summary>The cycle as one line: <c>a → b → a</c>.</summary>
    public string Path => string.Join(" → ", Cycle.Append(Cycle[0]));

    /// <inheritdoc />
    public override string ToString() => $"DEADLOCK ({Kind}): {Path}";
}

/// <summary>
/// A wait-for graph: an edge from each piece of work to what it waits for. Glue adds the edges it reads (an Ask to the
/// actor holding its request, a call to the request serving it) and asks for the cycles: deadlocks.
/// </summary>
/// <typeparam name="TNode">The work (an actor, a request); compared with <paramref name="comparer"/>.</typeparam>
/// <param name="name">How a node is named in a <see cref="Deadlock"/>.</param>
/// <param name="comparer">Node identity; default equality when null.</param>
public sealed class WaitForGraph<TNode>(Func<TNode, string> name, IEqualityComparer<TNode>? comparer = null) where TNode : notnull
{
    private readonly Dictionary<TNode, List<TNode>> _next = new(comparer);
    private readonly Func<TNode, string> _name = name ?? throw new ArgumentNullException(nameof(name));

    /// <summary>Records that <paramref name="waiter"/> waits for <paramref name="waitedFor"/>.</summary>
    /// <param name="waiter">The waiting work.</param>
    /// <param name="waitedFor">What it waits for.</param>
    public void AddEdge(TNode waiter, TNode waitedFor)
    {
        if (!_next.TryGetValue(waiter, out List<TNode>? list))
        {
            _next[waiter] = list = new List<TNode>(1);
        }
        list.Add(waitedFor);
    }

    /// <summary>What <paramref name="waiter"/> waits for (empty when nothing).</summary>
    /// <param name="waiter">The waiting work.</param>
    public IReadOnlyList<TNode> WaitsFor(TNode waiter) => _next.TryGetValue(waiter, out List<TNode>? list) ? list : Array.Empty<TNode>();

    /// <summary>
    /// Every elementary cycle reachable in the graph, each once, as a <see cref="Deadlock"/> of <paramref name="kind"/>:
    /// a depth-first search that reports a back edge's cycle and never revisits a finished node (linear in the graph's
    /// size; a node shared by two cycles may show in one of them only).
    /// </summary>
    /// <param name="kind">What the cycles are, e.g. <c>Ask cycle</c>.</param>
    public IReadOnlyList<Deadlock> FindCycles(string kind)
    {
        var found = new List<Deadlock>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        IEqualityComparer<TNode> comparer = _next.Comparer;
        var done = new HashSet<TNode>(comparer);
        var onPath = new Dictionary<TNode, int>(comparer);
        var path = new List<TNode>();
        // An explicit stack of (node, index of the next edge to follow): no recursion, so a chain of any length is searched
        // without a stack overflow, in time linear in the graph's size.
        var stack = new Stack<(TNode Node, int Edge)>();
        foreach (TNode start in _next.Keys)
        {
            if (done.Contains(start))
            {
                continue;
            }
            stack.Push((start, 0));
            onPath[start] = 0;
            path.Add(start);
            while (stack.Count > 0)
            {
                var (node, edge) = stack.Pop();
                IReadOnlyList<TNode> next = WaitsFor(node);
                if (edge >= next.Count)
                {
                    done.Add(node);
                    onPath.Remove(node);
                    path.RemoveAt(path.Count - 1);
                    continue;
                }
                stack.Push((node, edge + 1));
                TNode target = next[edge];
                if (onPath.TryGetValue(target, out int at))
                {
                    Report(path.GetRange(at, path.Count - at));
                }
                else if (!done.Contains(target))
                {
                    onPath[target] = path.Count;
                    path.Add(target);
                    stack.Push((target, 0));
                }
            }
        }
        return found;

        void Report(List<TNode> members)
        {
            List<string> cycle = members.Select(_name).ToList();
            int first = cycle.IndexOf(cycle.Min(StringComparer.Ordinal)!);
            cycle = cycle.Skip(first).Concat(cycle.Take(first)).ToList(); // one rotation per cycle
            if (seen.Add(string.Join("\n", cycle)))
            {
                found.Add(new Deadlock(kind, cycle));
            }
        }
    }
}
