using Akka.Actor;
using Stackscope.Akka.Inspection;
using Stackscope.Glue;

namespace Stackscope.Akka.Remote;

/// <summary>
/// A cluster-wide dump's read of the other members: each asked for its dump at once (its remote Asks followed by
/// itself), each answer awaited within the bound; then joined with this node's dump, nodes in address order, and the
/// Ask cycles of the whole cluster's wait-for graph.
/// </summary>
internal sealed class ClusterRead(IReadOnlyList<ActorNodeDump> others, IReadOnlyList<WaitEdge> edges, IReadOnlyDictionary<string, string> askers,
    string? membership)
{
    /// <summary>Asks every other member of <paramref name="cluster"/> (as the caller read it) for its dump, each within <paramref name="bound"/>.</summary>
    public static async Task<ClusterRead> ReadOthersAsync(ActorSystem system, (IReadOnlyList<ClusterMember> Members, Address Self) cluster,
        ActorDumpOptions options, TimeSpan bound, CancellationToken cancellationToken)
    {
        string? ownStatus = cluster.Members.FirstOrDefault(m => m.Address.Equals(cluster.Self))?.Status;
        if (NodeService.Client(system) is not { } client)
        {
            return new ClusterRead(Unasked(cluster, "this node has no Stackscope extension (actorSystem.UseStackscope() was not called)"), [], new Dictionary<string, string>(), ownStatus);
        }
        var query = new NodeQuery(Guid.Empty, NodeQuery.Dump, [], [], [], (int)NodeService.Inner(bound).TotalMilliseconds, options.QueuedShown, options.MaxMessageText);
        var nodes = new List<ActorNodeDump>();
        var edges = new List<WaitEdge>();
        var askers = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((ClusterMember member, NodeReply? reply) in await NodeService.AskMembersAsync(client, cluster, query, bound, cancellationToken).ConfigureAwait(false))
        {
            string status = member.Status + (member.Unreachable ? ", unreachable" : "");
            if (reply?.Answer is null)
            {
                nodes.Add(ActorNodeDump.Unanswered(member.Address.ToString(), status, NodeService.Failure(member, reply)));
                continue;
            }
            try
            {
                DumpAnswer answer = NodeJson.Read<DumpAnswer>(reply.Answer);
                nodes.Add(ActorNodeDump.From(answer, status, isThisNode: false));
                foreach (KeyValuePair<string, string> asker in answer.Askers ?? [])
                {
                    if (asker.Key is not null && asker.Value is not null)
                    {
                        askers.TryAdd(asker.Key, asker.Value);
                    }
                }
                edges.AddRange((answer.Edges ?? []).Where(static e => e?.From is not null && e.To is not null));
            }
            catch (FormatException e)
            {
                nodes.Add(ActorNodeDump.Unanswered(member.Address.ToString(), status, $"sent an answer that could not be read ({e.Message})"));
            }
        }
        return new ClusterRead(nodes, edges, askers, ownStatus);
    }


    private static List<ActorNodeDump> Unasked((IReadOnlyList<ClusterMember> Members, Address Self) cluster, string why) =>
        cluster.Members.Where(m => !m.Address.Equals(cluster.Self)).Select(m => ActorNodeDump.Unanswered(m.Address.ToString(), m.Status, why)).ToList();

    /// <summary>This node's dump with the other members' dumps, and the Ask cycles of every node's wait-for edges together.</summary>
    public ActorSystemDump Combine(ActorSystem system, LocalCapture capture)
    {
        ActorSystemDump local = capture.Dump;
        IReadOnlyList<WaitEdge> localEdges = capture.Edges;
        // Its own unanswered nodes are listed as nodes, not repeated as its errors.
        DumpAnswer own = NodeService.ToAnswer(system, capture);
        own = own with { Errors = own.Errors.Where(static e => !e.StartsWith("node ", StringComparison.Ordinal)).ToArray() };
        var nodes = new List<ActorNodeDump> { ActorNodeDump.From(own, membership ?? "not in a cluster", isThisNode: true) };
        nodes.AddRange(others.OrderBy(static n => n.Address, StringComparer.Ordinal));
        // A request from another node names its sender as the Ask's temporary actor there: the asking node named its asker.
        var named = new Dictionary<string, string>(capture.RemoteAskers, StringComparer.Ordinal);
        foreach (KeyValuePair<string, string> asker in askers)
        {
            named.TryAdd(asker.Key, asker.Value);
        }
        foreach (ActorDump busy in nodes.SelectMany(static n => n.BusyActors))
        {
            if (busy.Message is { AskedBy: null, SenderPath: { } sender } message && named.TryGetValue(sender, out string? by))
            {
                busy.Message = message with { AskedBy = by };
            }
        }
        var errors = local.Errors.Where(static e => !e.Message.StartsWith("node ", StringComparison.Ordinal)).ToList();
        return new ActorSystemDump(local.SystemName, local.Root, Cycles(localEdges.Concat(edges)), errors, local.Options, nodes);
    }

    /// <summary>The Ask cycles of a wait-for graph between actors named by their full paths.</summary>
    public static IReadOnlyList<Deadlock> Cycles(IEnumerable<WaitEdge> edges)
    {
        var graph = new WaitForGraph<string>(static s => s, StringComparer.Ordinal);
        foreach (WaitEdge edge in edges.Distinct())
        {
            graph.AddEdge(edge.From, edge.To);
        }
        // Each cycle from its ordinally first actor, so the same cycle reads the same whichever node's edges came first.
        return graph.FindCycles(SystemScan.AskCycle).Select(static d =>
        {
            int first = d.Cycle.Select((name, i) => (name, i)).MinBy(static p => p.name, StringComparer.Ordinal).i;
            return d with { Cycle = d.Cycle.Skip(first).Concat(d.Cycle.Take(first)).ToList() };
        }).ToList();
    }
}
