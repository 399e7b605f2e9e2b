using Akka.Actor;
using Stackscope.Akka.Glue;
using Stackscope.Akka.Inspection;
using Stackscope.Akka.Setup;
using Stackscope.Glue;

namespace Stackscope.Akka.Remote;

/// <summary>
/// Reading across nodes: asking the other members of the cluster who holds the requests of this node's remote Asks
/// (<see cref="FollowAsync"/>), answering their questions about this node's actors (<see cref="AnswerAsync"/>), and
/// the wait-for edges a node's read adds to the cluster's graph. Every wait is bounded: a node that does not answer in
/// time is named with why, and the rest of the answer stands.
/// </summary>
internal static class NodeService
{
    /// <summary>
    /// The part of a budget a node gives the nodes it asks in turn: it keeps a tenth (at least 200 ms) to read its own
    /// actors and send its answer, so an answer from three hops away still arrives within the first node's bound.
    /// </summary>
    public static TimeSpan Inner(TimeSpan budget)
    {
        TimeSpan kept = TimeSpan.FromTicks(Math.Max(budget.Ticks / 10, TimeSpan.FromMilliseconds(200).Ticks));
        return budget > kept ? budget - kept : TimeSpan.Zero;
    }

    /// <summary>
    /// Asks every other member of <paramref name="scan"/>'s cluster who holds the requests of those of
    /// <paramref name="asks"/> that left the system over Akka.Remote; waits at most <paramref name="budget"/>.
    /// </summary>
    public static async Task<RemoteHolders> FollowAsync(SystemScan scan, IEnumerable<Task> asks, IReadOnlyList<ChainLink> chain,
        ActorDumpOptions options, TimeSpan budget, CancellationToken cancellationToken)
    {
        var keys = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (Task ask in asks)
        {
            if (RemoteAsks.KeyOf(scan, ask) is { } key && !chain.Any(c => c.Key == key) && !keys.ContainsKey(key))
            {
                keys[key] = scan.AskerOf(ask) is { } asker ? RemoteAsks.FullPath(scan, asker) : null;
            }
        }
        if (keys.Count == 0)
        {
            return RemoteHolders.None(chain);
        }
        if (Client(scan.System) is not { } client)
        {
            return RemoteHolders.None(chain, "this node has no Stackscope extension (actorSystem.UseStackscope() was not called)");
        }
        if (ClusterMembers.Of(scan.System) is not { } cluster)
        {
            return RemoteHolders.None(chain, "this node is not a member of an Akka.Cluster, whose members are the nodes asked");
        }
        var query = new NodeQuery(Guid.Empty, NodeQuery.Holders, keys.Keys.ToArray(), keys.Values.ToArray(), chain.ToArray(), (int)Inner(budget).TotalMilliseconds,
            options.QueuedShown, options.MaxMessageText);
        var byKey = new Dictionary<string, HolderAnswer>(StringComparer.Ordinal);
        var errors = new List<string>();
        var unanswered = new List<string>();
        var asked = await AskMembersAsync(client, cluster, query, budget, cancellationToken).ConfigureAwait(false);
        foreach ((ClusterMember member, NodeReply? reply) in asked)
        {
            if (reply?.Answer is null)
            {
                unanswered.Add($"{member.Address}: {Failure(member, reply)}");
                continue;
            }
            try
            {
                HoldersAnswer answer = NodeJson.Read<HoldersAnswer>(reply.Answer);
                foreach (HolderAnswer holder in answer.Holders ?? [])
                {
                    if (holder?.Key is { } key && keys.ContainsKey(key) && holder.Holder is not null && holder.Description is not null)
                    {
                        byKey.TryAdd(key, holder with { Edges = holder.Edges ?? [] });
                    }
                }
                errors.AddRange((answer.Errors ?? []).Select(e => $"{reply.Node}: {e}"));
            }
            catch (FormatException e)
            {
                unanswered.Add($"{reply.Node}: sent an answer that could not be read ({e.Message})");
            }
        }
        return new RemoteHolders(byKey, chain, unanswered, errors, asked.Count(static a => a.Reply is not null));
    }

    /// <summary>
    /// Asks every member but this node, all at once, those joining, up, leaving or exiting (the others get no reply:
    /// not asked); each answer is awaited at most <paramref name="bound"/>.
    /// </summary>
    public static async Task<List<(ClusterMember Member, NodeReply? Reply)>> AskMembersAsync(NodeClient client,
        (IReadOnlyList<ClusterMember> Members, Address Self) cluster, NodeQuery query, TimeSpan bound, CancellationToken cancellationToken)
    {
        var asking = new List<(ClusterMember Member, Task<NodeReply>? Reply)>();
        foreach (ClusterMember member in cluster.Members)
        {
            if (!member.Address.Equals(cluster.Self))
            {
                asking.Add((member, IsAsked(member) ? client.AskAsync(member.Address, query with { Id = Guid.NewGuid() }, bound, cancellationToken) : null));
            }
        }
        await Task.WhenAll(asking.Select(static a => a.Reply).OfType<Task<NodeReply>>()).ConfigureAwait(false);
        return asking.Select(static a => (a.Member, a.Reply?.Result)).ToList();
    }

    private static bool IsAsked(ClusterMember member) => member.Status is "Joining" or "WeaklyUp" or "Up" or "Leaving" or "Exiting";

    /// <summary>Why a member gave no answer: not asked for its status, or what its reply says (and whether it is unreachable).</summary>
    public static string Failure(ClusterMember member, NodeReply? reply) =>
        reply is null ? $"{member.Status.ToLowerInvariant()}, not asked"
            : reply.Failure + (member.Unreachable ? " (unreachable, by this node's failure detector)" : "");

    /// <summary>This node's answer to another's question, as the bytes to send. Never throws: a failure is an error in the answer.</summary>
    public static async Task<byte[]> AnswerAsync(ActorSystem system, NodeQuery query)
    {
        string node = Address(system);
        var options = ActorDumpOptions.Default with
        {
            QueuedShown = Math.Clamp(query.QueuedShown, 0, 100),
            MaxMessageText = Math.Clamp(query.MaxMessageText, 0, 10_000),
        };
        TimeSpan budget = TimeSpan.FromMilliseconds(Math.Clamp(query.BudgetMs, 0, 600_000));
        using var timeout = new CancellationTokenSource(budget);
        try
        {
            return query.Kind switch
            {
                NodeQuery.Holders => NodeJson.Write(await HoldersAsync(system, query, options, budget, timeout.Token).ConfigureAwait(false)),
                NodeQuery.Dump => NodeJson.Write(await DumpAsync(system, options, budget, timeout.Token).ConfigureAwait(false)),
                _ => NodeJson.Write(new HoldersAnswer(node, [], [$"no such question: '{query.Kind}'"])),
            };
        }
        catch (Exception e)
        {
            return Refusal(system, query, $"answering failed: {e.GetType().Name}: {e.Message}");
        }
    }

    /// <summary>An answer that says only why <paramref name="query"/> was not answered.</summary>
    public static byte[] Refusal(ActorSystem system, NodeQuery query, string why) => query.Kind == NodeQuery.Dump
        ? NodeJson.Write(new DumpAnswer(Address(system), system.Name, 0, [], [], [why]))
        : NodeJson.Write(new HoldersAnswer(Address(system), [], [why]));

    private static async Task<HoldersAnswer> HoldersAsync(ActorSystem system, NodeQuery query, ActorDumpOptions options, TimeSpan budget, CancellationToken cancellationToken)
    {
        string[] keys = (query.Keys ?? []).Take(10_000).ToArray();
        string?[] askers = query.Askers ?? [];
        ChainLink[] incoming = (query.Chain ?? []).Where(static c => c?.Key is not null && c.Holder is not null).ToArray();
        var scans = new SystemScans(options) { WantedRemoteKeys = new HashSet<string>(keys.OfType<string>(), StringComparer.Ordinal) };
        SystemScan scan = scans.For(system);
        var found = new List<(string Key, string? Asker, AskTarget Target, string Path)>();
        for (int i = 0; i < keys.Length; i++)
        {
            if (keys[i] is { } key && scan.HolderOf(key) is { } target)
            {
                found.Add((key, i < askers.Length ? askers[i] : null, target, RemoteAsks.FullPath(scan, target.Target)));
            }
        }
        if (found.Count == 0)
        {
            return new HoldersAnswer(Address(system), [], scan.Errors.Select(static e => e.ToString()).ToArray());
        }
        // The actors on the way here: a holder that is one of them waits for this very Ask, so the chain is a cycle and ends
        // there. The others are followed with the Asks met on the way here and these (an Ask met again ends the walk too).
        var onPath = new HashSet<string>(incoming.SelectMany(static c => new[] { c.Asker, c.Holder }).OfType<string>(), StringComparer.Ordinal);
        var cycles = found.Where(f => onPath.Contains(f.Path) || f.Asker == f.Path).ToList();
        found.RemoveAll(f => cycles.Contains(f));
        ChainLink[] chain = incoming.Concat(found.Select(static f => new ChainLink(f.Key, f.Asker, f.Path))).ToArray();
        scans.Remote = await FollowAsync(scan, AsksBelow(scan, found.Select(static f => f.Target.Target)), chain, options, Inner(budget), cancellationToken)
            .ConfigureAwait(false);
        ExtractOptions handlerOptions = scans.Seed(options.Extract with { IncludeAwaitedBy = false });
        WaitEdge[] edges = Edges(scan, scans.Remote).ToArray();
        var holders = new List<HolderAnswer>();
        foreach ((string key, string? asker, AskTarget target, string path) in cycles)
        {
            string said = AkkaGlue.Holder(target, path).Description;
            holders.Add(new HolderAnswer(key, path, true, $"{said}: DEADLOCK, that actor is higher up this chain, waiting for this Ask (an Ask cycle across nodes)",
                null, asker is null ? [] : [new WaitEdge(asker, path)]));
        }
        foreach ((string key, _, AskTarget target, string path) in found)
        {
            Unwrapped said = AkkaGlue.Holder(target, path);
            LogicalStack? stack = said.Next.Count == 1 ? StackExtractor.Extract(said.Next[0], handlerOptions) : null;
            holders.Add(new HolderAnswer(key, path, target.Target.Dump.IsBusy, said.Description, stack, edges));
        }
        var errors = scan.Errors.Select(static e => e.ToString()).Concat(scans.Remote.Errors).ToArray();
        return new HoldersAnswer(Address(system), holders.ToArray(), errors);
    }

    private static async Task<DumpAnswer> DumpAsync(ActorSystem system, ActorDumpOptions options, TimeSpan budget, CancellationToken cancellationToken)
    {
        LocalCapture capture = await StackscopeAkka.CaptureWithEdgesAsync(system, options, budget, cancellationToken).ConfigureAwait(false);
        return ToAnswer(system, capture);
    }

    /// <summary>A dump as a node sends it: its busy actors with their paths made full (with this node's address).</summary>
    public static DumpAnswer ToAnswer(ActorSystem system, LocalCapture capture)
    {
        ActorSystemDump dump = capture.Dump;
        string address = Address(system);
        string local = "akka://" + system.Name;
        string Full(string path) => path.StartsWith(local, StringComparison.Ordinal) ? address + path[local.Length..] : path;
        MessageJson? Message(ActorMessage? m) => m is null ? null : new MessageJson(m.TypeName, m.Text, m.SenderPath, m.AskedBy is { } by ? Full(by) : null);
        ActorJson[] busy = dump.BusyActors.Select(a => new ActorJson(Full(a.Path), a.ActorTypeName, a.Activity, Message(a.Message),
            a.BusyFor?.TotalMilliseconds, a.MailboxCount, a.Queued.Select(q => Message(q)!).ToArray(), a.Stack, a.Note)).ToArray();
        return new DumpAnswer(address, system.Name, dump.Root.SubtreeCount, busy, capture.Edges.ToArray(), dump.Errors.Select(static e => e.ToString()).ToArray(),
            capture.RemoteAskers);
    }

    /// <summary>The actor awaiting each remote Ask of the read, by the Ask's key (full paths).</summary>
    public static Dictionary<string, string> RemoteAskers(SystemScan scan)
    {
        var named = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach ((Task ask, ActorState asker) in scan.AskersOfAsks)
        {
            if (RemoteAsks.KeyOf(scan, ask) is { } key)
            {
                named[key] = RemoteAsks.FullPath(scan, asker);
            }
        }
        return named;
    }

    /// <summary>
    /// The Asks awaited by <paramref name="holders"/>' handlers, and by the handlers of the actors of this node they wait
    /// for in turn: the Asks a chain through these holders continues with.
    /// </summary>
    private static IEnumerable<Task> AsksBelow(SystemScan scan, IEnumerable<ActorState> holders)
    {
        var seen = new HashSet<ActorState>(ReferenceEqualityComparer.Instance);
        var pending = new Stack<ActorState>(holders);
        while (pending.Count > 0)
        {
            ActorState state = pending.Pop();
            if (!seen.Add(state))
            {
                continue;
            }
            foreach (Task ask in state.Awaiting)
            {
                yield return ask;
                if (scan.TargetOf(ask) is { Place: AskPlace.Processing or AskPlace.Queued } target && !RemoteAsks.IsRemoting(target.Target))
                {
                    pending.Push(target.Target);
                }
            }
        }
    }

    /// <summary>
    /// The wait-for edges this node's read knows, between actors of any node (full paths): each busy handler awaiting an
    /// Ask whose request a busy actor holds, here or on another node, and the edges the other nodes' answers brought.
    /// </summary>
    public static IEnumerable<WaitEdge> Edges(SystemScan scan, RemoteHolders? remote)
    {
        var edges = new HashSet<WaitEdge>();
        foreach (ActorState asker in scan.Detailed)
        {
            if (!asker.Dump.IsBusy)
            {
                continue;
            }
            foreach (Task ask in asker.Awaiting)
            {
                string from = RemoteAsks.FullPath(scan, asker);
                if (scan.TargetOf(ask) is { Place: AskPlace.Processing or AskPlace.Queued } target && target.Target.Dump.IsBusy && !RemoteAsks.IsRemoting(target.Target))
                {
                    edges.Add(new WaitEdge(from, RemoteAsks.FullPath(scan, target.Target)));
                }
                else if (remote is not null && RemoteAsks.KeyOf(scan, ask) is { } key)
                {
                    if (remote.ByKey.TryGetValue(key, out HolderAnswer? answer) && answer.Busy)
                    {
                        edges.Add(new WaitEdge(from, answer.Holder));
                    }
                    else if (remote.ChainHolder(key) is { } holder)
                    {
                        edges.Add(new WaitEdge(from, holder));
                    }
                }
            }
        }
        if (remote is not null)
        {
            foreach (HolderAnswer answer in remote.ByKey.Values)
            {
                edges.UnionWith(answer.Edges.Where(static e => e?.From is not null && e.To is not null));
            }
        }
        return edges;
    }

    public static NodeClient? Client(ActorSystem system) =>
        system.HasExtension<StackscopeAkkaExtension>() ? system.GetExtension<StackscopeAkkaExtension>().Client : null;

    /// <summary>This node's address (<c>akka.tcp://orders@127.0.0.1:4053</c>).</summary>
    public static string Address(ActorSystem system) =>
        system is ExtendedActorSystem extended ? extended.Provider.DefaultAddress.ToString() : "akka://" + system.Name;
}
