namespace Stackscope.Forest;

/// <summary>
/// Operations that await each other in a ring: a deadlock, where each waits for the next and the last for the first.
/// None of them is a root (each is awaited), so a forest built from its roots alone would not show them at all. One
/// member of each ring is made a root, in process (<see cref="ForestBuilder"/>) and out of process (Stackscope.Diagnostics)
/// by this one rule: its stack goes round the ring and ends where it reaches that member again, with the error that
/// says so (<see cref="Extraction.Descent.Cycle"/>).
/// </summary>
internal static class AwaitRings
{
    /// <summary>One member of each ring among operations <c>0 .. count-1</c>: the one whose name sorts first (ordinal), the same on both sides.</summary>
    /// <param name="count">The number of operations.</param>
    /// <param name="awaiter">The one operation awaiting operation <c>i</c>; -1 if none or several do (a ring's members each have exactly one).</param>
    /// <param name="name">An operation's name, asked of ring members only.</param>
    /// <remarks>
    /// Linear: each operation is walked up from once, through its awaiter, until an operation with no single awaiter (a
    /// chain under a root) or one already walked; an operation met again on the walk being made closes a ring.
    /// </remarks>
    public static List<int> Roots(int count, Func<int, int> awaiter, Func<int, string> name)
    {
        var roots = new List<int>();
        if (count == 0)
        {
            return roots;
        }
        var state = new byte[count]; // 0: not walked; 1: on the walk being made; 2: walked
        for (int i = 0; i < count; i++)
        {
            int n = i;
            while ((uint)n < (uint)count && state[n] == 0)
            {
                state[n] = 1;
                n = awaiter(n);
            }
            if ((uint)n < (uint)count && state[n] == 1)
            {
                // The walk met itself at n: n and its awaiters up to n again are a ring.
                int first = n;
                for (int m = awaiter(n); m != n; m = awaiter(m))
                {
                    if (string.CompareOrdinal(name(m), name(first)) < 0)
                    {
                        first = m;
                    }
                }
                roots.Add(first);
            }
            for (int m = i; (uint)m < (uint)count && state[m] == 1; m = awaiter(m))
            {
                state[m] = 2;
            }
        }
        return roots;
    }
}
