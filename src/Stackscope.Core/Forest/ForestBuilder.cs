using System.Runtime.CompilerServices;
using Stackscope.Extraction;
using Stackscope.Glue;
using Stackscope.Runtime;

namespace Stackscope.Forest;

/// <summary>
/// Builds a <see cref="StackForest"/> over a set of tasks: finds the roots (operations nothing in the set
/// awaits), fingerprints each root's chain without building it, and extracts one stack per distinct
/// fingerprint. Fingerprinting reads only types and state numbers, which is what makes grouping thousands
/// of identical chains cheap.
/// </summary>
internal static class ForestBuilder
{
    public static StackForest Build(IReadOnlyList<object> candidates, bool fromTracking, ExtractOptions? options)
    {
        options ??= ExtractOptions.Default;
        var errors = new List<StackError>();
        var pending = new List<object>(candidates.Count);
        foreach (object c in candidates)
        {
            if (c is not Task { IsCompleted: true })
            {
                pending.Add(c);
            }
        }

        ReverseLinks reverse;
        try
        {
            reverse = ReverseLinks.Build(pending);
        }
        catch (Exception e)
        {
            errors.Add(new StackError("recovering children from continuations failed: " + e.Message, e.GetType().FullName));
            reverse = ReverseLinks.Build(Array.Empty<object>());
        }

        // Everything some other candidate awaits (or that a branch point owns) is not a root: by what awaits it, the one
        // candidate (its index), several (Several), or a branch point whose child it was recovered as (Recovered).
        const int Recovered = -1, Several = -2;
        var awaiterOf = new Dictionary<object, int>(pending.Count, ReferenceEqualityComparer.Instance);
        foreach (object child in reverse.AllChildren)
        {
            awaiterOf[child] = Recovered;
        }
        var types = new RuntimeObjects.LastTypeCache();
        var infos = new RuntimeObjects[pending.Count];
        // What several candidates await is shown once, as a root of its own, with its awaiters (LeafKind.Shared).
        Dictionary<object, int>? shared = null;
        for (int i = 0; i < pending.Count; i++)
        {
            object c = pending[i];
            RuntimeObjects info = infos[i] = types.For(c.GetType());
            try
            {
                if (info.Model is { } model && Walker.PeekNext(c, model, out _) is { } next)
                {
                    if (!awaiterOf.TryGetValue(next, out int awaiter) || awaiter == Recovered)
                    {
                        awaiterOf[next] = i;
                    }
                    // Only an async method or iterator has a stack of its own to show once; a promise several await (the
                    // same TaskCompletionSource's task) stays their leaf, and their stacks group as before.
                    else
                    {
                        awaiterOf[next] = Several;
                        if (types.For(next.GetType()).Kind == ObjectKind.StateMachine)
                        {
                            shared ??= new Dictionary<object, int>(ReferenceEqualityComparer.Instance);
                            shared[next] = shared.GetValueOrDefault(next, 1) + 1;
                        }
                    }
                }
            }
            catch (Exception e)
            {
                errors.Add(new StackError("reading " + c.GetType().Name + ": " + e.Message, e.GetType().FullName));
            }
        }

        // A thread blocked on a shared operation is one of its awaiters too, as its awaited-by list shows it.
        foreach (object operation in shared?.Keys.ToArray() ?? [])
        {
            if (IsBlockedOn(operation))
            {
                shared![operation]++;
            }
        }

        // One extraction: every group's walker and the grouping itself share what glue reads once per extraction.
        var context = new GlueContext(options);
        GlueRegistry.EnsureDiscovered();
        GlueSet glue = GlueRegistry.Current;
        var groups = new RootGroups<Fingerprint, object>();
        int[] awaiters = new int[pending.Count]; // the one candidate awaiting each non-root, for the rings no root reaches
        for (int i = 0; i < pending.Count; i++)
        {
            object c = pending[i];
            // An async iterator's box is awaited through its state machine object, not itself.
            if ((awaiterOf.TryGetValue(c, out int awaiter) && shared?.ContainsKey(c) != true) ||
                (infos[i].StateMachineObject?.Invoke(c) is { } stateMachine && awaiterOf.TryGetValue(stateMachine, out awaiter)))
            {
                awaiters[i] = awaiter;
                continue;
            }
            awaiters[i] = -1;
            groups.Add(Fingerprint.Of(c, reverse, options.MaxDepth, ref types, glue, context, shared), c);
        }
        // Candidates that await each other in a ring (a deadlock) are all awaited: one of each ring is a root.
        foreach (int ring in AwaitRings.Roots(new CandidateGraph(pending, awaiters)))
        {
            groups.Add(Fingerprint.Of(pending[ring], reverse, options.MaxDepth, ref types, glue, context, shared), pending[ring]);
        }

        List<StackGroup> result = groups.Build(root =>
        {
            var walker = new Walker(options with { IncludeAwaitedBy = false }, reverse, context, shared);
            LogicalStack stack = walker.ExtractDown(root);
            if (shared?.ContainsKey(root) == true)
            {
                // A shared operation: its awaiters, each up to its own root, as in Extract(task).
                IReadOnlyList<LogicalStack>? awaitedBy = walker.ExtractCallers(root, new List<LogicalFrame>());
                return walker.Finish(stack.Frames, stack.Leaf, awaitedBy, stack.Children);
            }
            if (IsBlockedOn(root))
            {
                stack = new LogicalStack([Walker.BlockingWaitFrame, .. stack.Frames], stack.Leaf, null, null, false, stack.Children);
            }
            return walker.Finish(stack.Frames, stack.Leaf, null, stack.Children);
        });
        return new StackForest(result, pending.Count, fromTracking, errors);
    }

    /// <summary>The candidates and the one candidate awaiting each (-1 for a root, or one several or a branch point await).</summary>
    private readonly struct CandidateGraph(List<object> candidates, int[] awaiters) : IAwaitGraph
    {
        public int Count => awaiters.Length;

        public int Awaiter(int operation) => awaiters[operation];

        public string Name(int operation) => Walker.Describe(candidates[operation]);
    }

    private static bool IsBlockedOn(object root)
    {
        var continuations = new List<object>();
        Continuations.Collect(root, continuations, static (_, _) => { });
        return continuations.Any(c => Continuations.Resolve(c).Kind == LinkKind.BlockingWait);
    }

    /// <summary>The shape of a chain: its objects' types and state numbers, hashed, with its length.</summary>
    private readonly record struct Fingerprint(long Hash, int Length, object? Unique)
    {
        public static Fingerprint Of(object root, ReverseLinks reverse, int maxDepth, ref RuntimeObjects.LastTypeCache types, GlueSet glue, GlueContext context,
            Dictionary<object, int>? shared)
        {
            long hash = 17;
            int length = 0;
            object? current = root;
            while (current is not null && length < maxDepth)
            {
                if (shared is not null && shared.ContainsKey(current))
                {
                    // A shared operation is never grouped; stacks ending at one group only with stacks ending at the same one.
                    return new Fingerprint(hash, length, ReferenceEquals(current, root) ? root : current);
                }
                RuntimeObjects info = types.For(current.GetType());
                hash = unchecked(hash * 31 + RuntimeHelpers.GetHashCode(info));
                length++;
                if (info.Model is not { } model)
                {
                    // A branch point's children, and what glue unwraps an object into, differ from root to root: never
                    // group those. Glue that declines the object (returns null) leaves it an ordinary leaf.
                    return reverse.ChildrenOf(current) is not null || GlueApplies(glue, current, context)
                        ? new Fingerprint(hash, length, root)
                        : new Fingerprint(hash, length, null);
                }
                object? next = Walker.PeekNext(current, model, out int state);
                hash = unchecked(hash * 31 + state);
                current = next;
            }
            return new Fingerprint(hash, length, length >= maxDepth ? root : null);
        }

        /// <summary>Whether a glue unwrapper takes <paramref name="leaf"/> (a hook that throws counts as taking it: its stack is then extracted alone).</summary>
        private static bool GlueApplies(GlueSet glue, object leaf, GlueContext context)
        {
            if (glue.UnwrapperFor(leaf.GetType()) is not { } unwrapper)
            {
                return false;
            }
            try
            {
                return unwrapper.Hook(leaf, context) is not null;
            }
            catch (Exception)
            {
                return true;
            }
        }

        public bool Equals(Fingerprint other) => Hash == other.Hash && Length == other.Length && ReferenceEquals(Unique, other.Unique);

        public override int GetHashCode() => HashCode.Combine(Hash, Length, Unique is null ? 0 : RuntimeHelpers.GetHashCode(Unique));
    }
}
