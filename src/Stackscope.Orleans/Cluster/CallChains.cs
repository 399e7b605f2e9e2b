using Stackscope.Glue;

namespace Stackscope.Orleans;

/// <summary>
/// Stitches silo reports into call chains: a running request continues into the callee's request of every grain call it
/// awaits, found by the call's (caller, correlation id) among every silo's running and waiting requests; a waiting request
/// continues into the request blocking its activation. Deadlocks are the cycles of the wait-for graph between running
/// requests (a call to a queued callee waits for the request holding that activation).
/// </summary>
internal static class CallChains
{
    public const string CycleKind = "call cycle";

    public static ClusterStacks Stitch(IReadOnlyList<SiloStacks> silos, TimeSpan threshold, IReadOnlyList<string>? errors = null)
    {
        var byKey = new Dictionary<string, GrainRequest>();
        var blockingByActivation = new Dictionary<GrainActivation, GrainRequest>(ReferenceEqualityComparer.Instance);
        var activationOf = new Dictionary<GrainRequest, GrainActivation>(ReferenceEqualityComparer.Instance);
        foreach (GrainActivation activation in silos.SelectMany(static s => s.Activations))
        {
            foreach (GrainRequest request in activation.Running.Concat(activation.Waiting))
            {
                byKey.TryAdd(request.Key, request);
                activationOf[request] = activation;
            }
            if ((activation.Running.FirstOrDefault(static r => r.IsBlocking) ?? activation.Running.FirstOrDefault()) is { } blocking)
            {
                blockingByActivation[activation] = blocking;
            }
        }

        // What each request waits for: the callees of its calls, or (waiting in a queue) the request holding its activation.
        IReadOnlyList<GrainRequest> Next(GrainRequest request) => request.State == GrainRequestState.Waiting
            ? activationOf.TryGetValue(request, out GrainActivation? activation) && blockingByActivation.TryGetValue(activation, out GrainRequest? holder) ? [holder] : []
            : request.AwaitedCalls.Select(c => byKey.GetValueOrDefault(c.Key)).OfType<GrainRequest>().ToList();

        // The wait-for graph between running requests: a call to a waiting callee waits for the request holding it.
        var graph = new WaitForGraph<GrainRequest>(static r => r.Location, ReferenceEqualityComparer.Instance);
        var awaited = new HashSet<GrainRequest>(ReferenceEqualityComparer.Instance);
        foreach (GrainRequest running in byKey.Values.Where(static r => r.State == GrainRequestState.Running))
        {
            foreach (GrainRequest callee in Next(running))
            {
                awaited.Add(callee);
                foreach (GrainRequest waitedFor in callee.State == GrainRequestState.Waiting ? Next(callee) : [callee])
                {
                    awaited.Add(waitedFor);
                    graph.AddEdge(running, waitedFor);
                }
            }
        }
        IReadOnlyList<Deadlock> deadlocks = graph.FindCycles(CycleKind);

        var chains = byKey.Values
            .Where(r => r.State == GrainRequestState.Running && StuckRule.IsStuck(r.Elapsed, threshold))
            .OrderByDescending(static r => r.Elapsed)
            .Select(r => Build(r, new List<GrainRequest>()))
            .ToList();
        // Requests another request waits for are shown inside their callers' chains, not as chains of their own...
        var stuck = chains.Where(c => !awaited.Contains(c.Request)).ToList();
        // ...except in a cycle, where every request is awaited by another: each deadlock is listed from its first member.
        foreach (Deadlock deadlock in deadlocks)
        {
            if (!stuck.Any(c => Contains(c, deadlock.Cycle[0])) && chains.FirstOrDefault(c => c.Request.Location == deadlock.Cycle[0]) is { } chain)
            {
                stuck.Add(chain);
            }
        }
        return new ClusterStacks(silos, stuck, deadlocks, threshold, errors ?? []);

        GrainCallChain Build(GrainRequest request, List<GrainRequest> path)
        {
            path.Add(request);
            var next = new List<GrainCallChain>();
            var notes = new List<string>();
            foreach (GrainRequest callee in Next(request))
            {
                if (path.Contains(callee, ReferenceEqualityComparer.Instance))
                {
                    notes.Add($"DEADLOCK: waits for {callee.Grain} {callee.Method}, already on this chain");
                }
                else
                {
                    next.Add(Build(callee, path));
                }
            }
            if (request.State == GrainRequestState.Running)
            {
                foreach (GrainCall call in request.AwaitedCalls.Where(c => !byKey.ContainsKey(c.Key)))
                {
                    notes.Add($"the callee's request was not found on any silo (call {call.Method} to {call.TargetGrain}: answered meanwhile, or its silo did not report)");
                }
            }
            path.RemoveAt(path.Count - 1);
            return new GrainCallChain(request, next, notes);
        }

        static bool Contains(GrainCallChain chain, string location) =>
            chain.Request.Location == location || chain.Next.Any(c => Contains(c, location));
    }
}
