namespace Stackscope.Forest;

/// <summary>
/// A forest's roots grouped by the shape of their chains (a fingerprint: the same methods suspended at the same awaits),
/// in the order first seen: one stack is built per group, for its first root, and the groups are listed largest first.
/// The one grouping of forests in process (<see cref="ForestBuilder"/>) and out of process (Stackscope.Diagnostics).
/// </summary>
/// <typeparam name="TKey">The fingerprint.</typeparam>
/// <typeparam name="TRoot">A root: an object in process, a heap node out of process.</typeparam>
internal sealed class RootGroups<TKey, TRoot> where TKey : notnull
{
    private readonly Dictionary<TKey, int> _index = new();
    private readonly List<(TRoot Root, int Count)> _groups = new();

    /// <summary>Counts <paramref name="root"/> in its group, starting the group with it if it is the first of its shape.</summary>
    public void Add(TKey fingerprint, TRoot root)
    {
        if (_index.TryGetValue(fingerprint, out int i))
        {
            _groups[i] = (_groups[i].Root, _groups[i].Count + 1);
        }
        else
        {
            _index[fingerprint] = _groups.Count;
            _groups.Add((root, 1));
        }
    }

    /// <summary>One stack per group, of its first root, largest groups first (a stable sort: equal counts keep their order).</summary>
    public List<StackGroup> Build(Func<TRoot, LogicalStack> stackOf)
    {
        var result = new List<StackGroup>(_groups.Count);
        foreach (var (root, count) in _groups)
        {
            result.Add(new StackGroup(stackOf(root), count));
        }
        return result.OrderByDescending(g => g.Count).ToList();
    }
}
