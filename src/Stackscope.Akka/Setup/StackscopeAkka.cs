using Akka.Actor;
using Akka.Configuration;
using Stackscope.Akka.Formatting;
using Stackscope.Akka.Inspection;
using Stackscope.Akka.Remote;
using Stackscope.Akka.Setup;
using Stackscope.Glue;

namespace Stackscope.Akka;

/// <summary>
/// Logical stacks for an Akka.NET actor system: <see cref="DumpLogicalStacks"/> for text (a test that timed out,
/// a log line), <see cref="CaptureLogicalStacks"/> for the model. Nothing runs per message unless asked:
/// <see cref="UseStackscope"/> costs nothing until a dead letter is sent, handler tracking costs per async
/// operation, and <see cref="TimedMailboxConfig"/> costs one timestamp per message.
/// </summary>
public static class StackscopeAkka
{
    /// <summary>
    /// HOCON that makes <see cref="Timing.StackscopeTimedMailbox"/> the default mailbox, so dumps can say how long
    /// each busy actor has been busy, and loads <see cref="StackscopeAkkaExtension"/>. Use it as a fallback of the
    /// system's configuration: <c>ActorSystem.Create("orders", myConfig.WithFallback(StackscopeAkka.TimedMailboxConfig))</c>.
    /// Actors that require other mailbox semantics (stashing, bounded) keep their own mailboxes.
    /// </summary>
    public static Config TimedMailboxConfig { get; } = ConfigurationFactory.ParseString("""
        akka.actor.default-mailbox.mailbox-type = "Stackscope.Akka.Timing.StackscopeTimedMailbox, Stackscope.Akka"
        akka.extensions += "Stackscope.Akka.Setup.StackscopeAkkaExtensionProvider, Stackscope.Akka"
        """);

    /// <summary>
    /// Prepares <paramref name="system"/> for dumps: records Asks whose requests go to dead letters or whose targets stop
    /// (so a dump can say so), and with <see cref="StackscopeAkkaOptions.TrackHandlers"/> turns on <see cref="TaskTracking"/>
    /// (process-wide, <see cref="TaskTrackingMode.Registry"/>), without which the stack of an async handler that awaits
    /// anything but an Ask cannot be found. Idempotent.
    /// </summary>
    /// <param name="system">The actor system.</param>
    /// <param name="configure">Sets the options; the defaults add nothing per message.</param>
    /// <returns>The same system, for chaining.</returns>
    public static ActorSystem UseStackscope(this ActorSystem system, Action<StackscopeAkkaOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        var options = new StackscopeAkkaOptions();
        configure?.Invoke(options);
        system.RegisterExtension(new StackscopeAkkaExtensionProvider());
        if (options.TrackHandlers && !TaskTracking.IsEnabled)
        {
            TaskTracking.Enable(TaskTrackingMode.Registry);
        }
        return system;
    }

    /// <summary>
    /// Reads the actor system's actors now, without waiting for anything: an Ask whose request went to another node is
    /// described, not followed (<see cref="CaptureLogicalStacksAsync"/> follows it). Never throws: what cannot be read is
    /// in <see cref="ActorSystemDump.Errors"/>.
    /// </summary>
    public static ActorSystemDump CaptureLogicalStacks(this ActorSystem system, ActorDumpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        options ??= ActorDumpOptions.Default;
        var scans = new SystemScans(options);
        SystemScan scan = scans.For(system);
        StackError[] notes = options.WholeCluster && Remote.ClusterMembers.Of(system) is not null
            ? [new StackError("WholeCluster is read by CaptureLogicalStacksAsync and DumpLogicalStacksAsync: a synchronous dump never waits for other nodes, so this is this node's dump only")]
            : [];
        return Build(system, scans, scan, options, scan.Deadlocks(), notes, Array.Empty<ActorNodeDump>());
    }

    /// <summary>
    /// Reads the actor system's actors and follows every Ask whose request went to another node of its Akka.Cluster into
    /// the actor holding it there, recursively across nodes, each node answering for its own actors
    /// (<see cref="UseStackscope"/> makes a node answer). With <see cref="ActorDumpOptions.WholeCluster"/> every member's
    /// busy actors are read too. Waits for other nodes at most <see cref="ActorDumpOptions.RemoteBound"/>: a node that does
    /// not answer in time is named with why, and the rest of the dump stands. Never throws but for cancellation.
    /// </summary>
    /// <param name="system">The actor system.</param>
    /// <param name="options">What to show; the defaults follow remote Asks and read only this node's actors.</param>
    /// <param name="cancellationToken">Stops waiting for other nodes.</param>
    public static async Task<ActorSystemDump> CaptureLogicalStacksAsync(this ActorSystem system, ActorDumpOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(system);
        options ??= ActorDumpOptions.Default;
        TimeSpan bound = options.RemoteBudget;
        // The other members are asked first and read their own actors while this node reads its own.
        // A system that is not a cluster node is dumped as itself: WholeCluster then changes nothing (a test helper can always set it).
        Task<ClusterRead>? others = options.WholeCluster && Remote.ClusterMembers.Of(system) is { } cluster
            ? ClusterRead.ReadOthersAsync(system, cluster, options, bound, cancellationToken)
            : null;
        LocalCapture local = await CaptureWithEdgesAsync(system, options, bound, cancellationToken).ConfigureAwait(false);
        if (others is null)
        {
            return local.Dump;
        }
        ClusterRead read = await others.ConfigureAwait(false);
        return read.Combine(system, local);
    }

    /// <summary>
    /// This node's dump with its remote Asks followed (within <paramref name="budget"/>), and its wait-for edges between
    /// actors of any node. What a node sends when another asks for its dump, and the first part of a cluster-wide one.
    /// </summary>
    internal static async Task<LocalCapture> CaptureWithEdgesAsync(ActorSystem system, ActorDumpOptions options,
        TimeSpan budget, CancellationToken cancellationToken)
    {
        var scans = new SystemScans(options);
        SystemScan scan = scans.For(system);
        RemoteHolders remote = await NodeService.FollowAsync(scan, scan.PendingAsksOfSystem(), Array.Empty<ChainLink>(), options, budget, cancellationToken)
            .ConfigureAwait(false);
        scans.Remote = remote;
        List<WaitEdge> edges = NodeService.Edges(scan, remote).ToList();
        // Across nodes, actors are named with their nodes' addresses; a system that cannot send remotely keeps its local names.
        IReadOnlyList<Deadlock> deadlocks = RemoteAsks.CanSendRemotely(system) ? ClusterRead.Cycles(edges) : scan.Deadlocks();
        var errors = remote.Errors.Select(static e => new StackError(e))
            .Concat(remote.Unanswered.Select(static u => new StackError("node " + u)))
            .ToList();
        return new LocalCapture(Build(system, scans, scan, options, deadlocks, errors, Array.Empty<ActorNodeDump>()), edges, NodeService.RemoteAskers(scan));
    }

    /// <summary>
    /// The stack of <paramref name="ask"/>, a pending Ask awaited outside any actor: the Ask continues into the actor
    /// holding its request and that actor's handler, on this node or (within <see cref="ActorDumpOptions.RemoteBound"/>)
    /// on the member of the cluster holding it.
    /// </summary>
    internal static async Task<LogicalStack> CaptureAskAsync(ActorSystem system, Task ask, ActorDumpOptions options, CancellationToken cancellationToken)
    {
        var scans = new SystemScans(options);
        SystemScan scan = scans.For(system);
        // The Ask's own task (the one its temporary actor completes) is under the task Ask<T> returned.
        List<Task> own = scan.PendingAsksOfSystem()
            .Where(pending => ReferenceEquals(pending, ask) || TaskGraph.FindAbove(pending, node => ReferenceEquals(node, ask)) is not null)
            .ToList();
        scans.Remote = await NodeService.FollowAsync(scan, own, Array.Empty<ChainLink>(), options, options.RemoteBudget, cancellationToken).ConfigureAwait(false);
        return StackExtractor.Extract(ask, scans.Seed(options.Extract with { IncludeAwaitedBy = false }));
    }

    /// <summary>The dump of a read system: every detailed actor's handler stack and pending PipeTo operations extracted, sharing the read's scans.</summary>
    internal static ActorSystemDump Build(ActorSystem system, SystemScans scans, SystemScan scan, ActorDumpOptions options,
        IReadOnlyList<Deadlock> deadlocks, IReadOnlyList<StackError> moreErrors, IReadOnlyList<ActorNodeDump> nodes)
    {
        var errors = new List<StackError>(scan.Errors);
        errors.AddRange(moreErrors);
        NameAskers(scan);
        // Every stack of the dump resolves Asks against the systems this dump has read (each read once).
        ExtractOptions handlerOptions = scans.Seed(options.Extract with { IncludeAwaitedBy = false });
        foreach (ActorState actor in scan.Detailed) // an idle actor without a state has nothing to add
        {
            Detail(actor, handlerOptions);
        }
        ActorDump root = scan.Root ?? new ActorDump("/", "/", "?", ActorActivity.Idle);
        return new ActorSystemDump(system.Name, root, deadlocks, errors, options, nodes);
    }

    /// <summary>Names the actor behind each Ask a busy actor of the scan is processing (<see cref="ActorMessage.AskedBy"/>): its sender is only the Ask's temporary actor.</summary>
    internal static void NameAskers(SystemScan scan)
    {
        foreach ((Task ask, ActorState asker) in scan.AskersOfAsks)
        {
            if (scan.TargetOf(ask) is { Place: AskPlace.Processing } target && target.Target.Dump.Message is { } message)
            {
                target.Target.Dump.Message = message with { AskedBy = asker.Dump.Path };
            }
        }
    }

    /// <summary>
    /// An actor's handler stack (or why there is none) and its pending PipeTo operations, extracted with
    /// <paramref name="handlerOptions"/> (seeded with the read's scans): what a dump adds to the read of each actor.
    /// </summary>
    internal static void Detail(ActorState actor, ExtractOptions handlerOptions)
    {
        ActorDump dump = actor.Dump;
        if (dump.Activity == ActorActivity.Awaiting)
        {
            if (actor.HandlerRoot is { } handler)
            {
                dump.Stack = StackExtractor.Extract(handler, handlerOptions); // the handler is the top: RunTask's callback above it is Akka's
            }
            else
            {
                dump.Note = "handler's stack not found: " + Glue.ActorNotes.HandlerUnknown;
            }
        }
        else if (dump.Activity == ActorActivity.Running)
        {
            dump.Note = "running synchronously; " + Glue.ActorNotes.ThreadStack;
        }
        if (actor.Pipes.Count > 0)
        {
            // The piped task's own stack: PipeTo's frame above it only repeats what the dump says in words.
            dump.PendingPipes = actor.Pipes
                .Select(pipe => new ActorPipe(dump.Path, StackExtractor.Extract(SystemScan.PipedTask(pipe) ?? pipe, handlerOptions)))
                .ToList();
        }
    }

    /// <summary>The actor tree with every busy actor's message, mailbox and handler stack, and Ask deadlocks, as text.</summary>
    public static string DumpLogicalStacks(this ActorSystem system, ActorDumpOptions? options = null) =>
        ActorDumpFormatter.Format(system.CaptureLogicalStacks(options));

    /// <summary>
    /// <see cref="CaptureLogicalStacksAsync"/> as text: remote Asks followed into the nodes holding their requests and,
    /// with <see cref="ActorDumpOptions.WholeCluster"/>, every member's busy actors grouped by node and Ask cycles across
    /// nodes. For a test that timed out on any node of a cluster.
    /// </summary>
    /// <param name="system">The actor system.</param>
    /// <param name="options">What to show.</param>
    /// <param name="cancellationToken">Stops waiting for other nodes.</param>
    public static async Task<string> DumpLogicalStacksAsync(this ActorSystem system, ActorDumpOptions? options = null, CancellationToken cancellationToken = default) =>
        ActorDumpFormatter.Format(await system.CaptureLogicalStacksAsync(options, cancellationToken).ConfigureAwait(false));
}
