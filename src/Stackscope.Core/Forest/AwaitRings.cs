namespace Stackscope.Forest;

/// <summary>Operations <c>0 .. Count-1</c> and the one operation awaiting each: what <see cref="AwaitRings"/> searches.</summary>
internal interface IAwaitGraph
{
    int Count { get; }

    /// <summary>The one operation awaiting operation <paramref name="operation"/>; -1 if none or several do (a ring's members each have exactly one).</summary>
    int Awaiter(int operation);

    /// <summary>An operation's name, asked of ring members only.</summary>
    string Name(int operation);
}

/// <summary>
/// Operations that await each other in a ring: a deadlock, where each waits for the next and the last for the first.
/// None of them is a root (each is awaited), so a forest built from its roots alone would not show them at all. One
/// member of each ring is made a root, in process (<see cref="ForestBuilder"/>) and out of process (Stackscope.Diagnostics)
/// by this one rule: its stack goes round the ring and ends where it reaches that member again, with the error that
/// says so (<see cref="Extraction.Descent.Cycle"/>).
/// </summary>
internal static class AwaitRings
{
    /// <summary>One member of each ring: the one whose name sorts first (ordinal), the same on both sides.</summary>
    /// <remarks>
    /// Going up a ring, the operations' numbers cannot rise all the way round: every ring has a member awaited by an
    /// operation numbered below it. So the search walks up only from such operations (in a forest they are few: a
    /// caller's box is mostly allocated after its callee's, and the heap's nodes are numbered in address order), until
    /// an operation with no single awaiter (a chain under a root), one already walked, or one met again on this walk,
    /// which closes a ring. One pass over the awaiters, then walks that each operation is part of once at most.
    /// </remarks>
    public static List<int> Roots<TGraph>(TGraph graph)
        where TGraph : IAwaitGraph
    {
        var roots = new List<int>();
        Dictionary<int, bool>? walked = null; // true: on the walk being made; false: walked before
        int count = graph.Count;
        for (int i = 0; i < count; i++)
        {
            int awaiter = graph.Awaiter(i);
            if ((uint)awaiter > (uint)i)
            {
                continue; // no single awaiter, or one numbered above: no ring is entered here (an operation awaiting itself is one)
            }
            walked ??= new Dictionary<int, bool>();
            int n = i;
            while ((uint)n < (uint)count && walked.TryAdd(n, true))
            {
                n = graph.Awaiter(n);
            }
            if ((uint)n < (uint)count && walked[n])
            {
                // The walk met itself at n: n and its awaiters up to n again are a ring.
                int first = n;
                for (int m = graph.Awaiter(n); m != n; m = graph.Awaiter(m))
                {
                    if (string.CompareOrdinal(graph.Name(m), graph.Name(first)) < 0)
                    {
                        first = m;
                    }
                }
                roots.Add(first);
            }
            for (int m = i; (uint)m < (uint)count && walked[m]; m = graph.Awaiter(m))
            {
                walked[m] = false;
            }
        }
        return roots;
    }
}
