namespace Stackscope.Orleans;

/// <summary>
/// Stitches silo reports into call chains: a request awaiting a call continues into the callee's request, found by
/// the call's (caller, correlation id) among every silo's running and waiting requests; a waiting callee continues
/// into the request blocking its activation. A request met twice on one chain closes a cycle: a deadlock.
/// </summary>
internal static class CallChains
{
    public static ClusterStacks Stitch(IReadOnlyList<SiloStacks> silos, TimeSpan threshold)
    {
        var byKey = new Dictionary<string, GrainRequest>();
        var blockingByGrain = new Dictionary<string, GrainRequest>();
        foreach (GrainActivation activation in silos.SelectMany(static s => s.Activations))
        {
            foreach (GrainRequest request in activation.Running.Concat(activation.Waiting))
            {
                byKey.TryAdd(request.Key, request);
            }
            if ((activation.Running.FirstOrDefault(static r => r.IsBlocking) ?? activation.Running.FirstOrDefault()) is { } blocking)
            {
                blockingByGrain.TryAdd(activation.Grain, blocking);
            }
        }

        GrainRequest? Next(GrainRequest request) => request.State == GrainRequestState.Waiting
            ? blockingByGrain.GetValueOrDefault(request.Grain)
            : request.AwaitedCall is { } call ? byKey.GetValueOrDefault(call.Key) : null;

        // What running requests wait for: their callees, and behind a queued callee the request blocking its activation.
        var awaited = new HashSet<string>();
        foreach (GrainRequest running in byKey.Values.Where(static r => r.State == GrainRequestState.Running))
        {
            if (Next(running) is { } callee && awaited.Add(callee.Key) && callee.State == GrainRequestState.Waiting && Next(callee) is { } blocking)
            {
                awaited.Add(blocking.Key);
            }
        }
        var deadlocks = new List<GrainDeadlock>();
        var seenCycles = new HashSet<string>();
        var chains = byKey.Values
            .Where(r => r.State == GrainRequestState.Running && r.Elapsed >= threshold)
            .OrderByDescending(static r => r.Elapsed)
            .Select(r => Build(r, new List<GrainRequest>()))
            .ToList();
        // Requests another request waits for are shown inside their callers' chains, not as chains of their own...
        var stuck = chains.Where(c => !awaited.Contains(c.Request.Key)).ToList();
        // ...except in a cycle, where every request is awaited by another: each deadlock is listed from its first grain.
        foreach (GrainDeadlock deadlock in deadlocks)
        {
            if (!stuck.Any(c => Contains(c, deadlock.Cycle[0])) && chains.FirstOrDefault(c => c.Request.Location == deadlock.Cycle[0]) is { } chain)
            {
                stuck.Add(chain);
            }
        }
        return new ClusterStacks(silos, stuck, deadlocks, threshold);

        GrainCallChain Build(GrainRequest request, List<GrainRequest> path)
        {
            path.Add(request);
            GrainRequest? next = Next(request);
            GrainCallChain result;
            if (next is null)
            {
                string? note = request.AwaitedCall is { } call && request.State == GrainRequestState.Running
                    ? $"the callee's request was not found on any silo (call {call.Method} to {call.TargetGrain}: answered meanwhile, or its silo did not report)"
                    : null;
                result = new GrainCallChain(request, null, note);
            }
            else if (path.FindIndex(r => r.Key == next.Key) is int at and >= 0)
            {
                List<string> cycle = path.Skip(at).Where(static r => r.State == GrainRequestState.Running).Select(static r => r.Location).ToList();
                int first = cycle.IndexOf(cycle.Min(StringComparer.Ordinal)!);
                cycle = cycle.Skip(first).Concat(cycle.Take(first)).ToList();
                if (seenCycles.Add(string.Join("\n", cycle)))
                {
                    deadlocks.Add(new GrainDeadlock(cycle));
                }
                result = new GrainCallChain(request, null, $"DEADLOCK: waits for {next.Grain} {next.Method}, already on this chain");
            }
            else
            {
                result = new GrainCallChain(request, Build(next, path), null);
            }
            path.RemoveAt(path.Count - 1);
            return result;
        }

        static bool Contains(GrainCallChain chain, string grainAtSilo) =>
            chain.Request.Location == grainAtSilo || chain.Callee is { } c && Contains(c, grainAtSilo);
    }
}
