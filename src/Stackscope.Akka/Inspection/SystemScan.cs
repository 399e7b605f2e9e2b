using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Dispatch;
using Stackscope.Akka.Timing;
using Stackscope.Glue;

namespace Stackscope.Akka.Inspection;

/// <summary>Where the request of a pending Ask is now.</summary>
internal enum AskPlace
{
    /// <summary>The target took it and is processing it (its current message's sender is the Ask).</summary>
    Processing,

    /// <summary>The target took it, finished, and has not replied (no reply will come unless sent later).</summary>
    TakenNoReply,

    /// <summary>Waiting in the target's mailbox.</summary>
    Queued,
}

/// <summary>A pending Ask's request, found in an actor.</summary>
internal sealed record AskTarget(ActorState Target, AskPlace Place, int Position, ActorMessage Request);

/// <summary>One actor as read during a scan.</summary>
internal sealed class ActorState(IActorRef self, ActorCell cell, ActorDump dump)
{
    public IActorRef Self { get; } = self;
    public ActorCell Cell { get; } = cell;
    public ActorDump Dump { get; } = dump;

    /// <summary>The message being processed when the actor was read (busy actors only): tells one handling from the next.</summary>
    public object? Current { get; set; }

    /// <summary>When the timed mailbox says <see cref="Current"/> was taken (a <see cref="System.Diagnostics.Stopwatch"/> timestamp), if it does.</summary>
    public long? TakenAt { get; set; }

    /// <summary>The async handler's task (the outermost async method RunTask started), when found.</summary>
    public Task? HandlerRoot { get; set; }

    // Most actors of a large system are idle: their lists are created only when something is added (a dump of 10,000
    // actors allocated two empty lists per actor before).
    private List<Task>? _awaiting;
    private List<Task>? _pipes;

    /// <summary>Pending Asks the handler awaits.</summary>
    public IReadOnlyList<Task> Awaiting => (IReadOnlyList<Task>?)_awaiting ?? Array.Empty<Task>();

    /// <summary>Pending PipeTo operations whose recipient is this actor (their async method boxes).</summary>
    public IReadOnlyList<Task> Pipes => (IReadOnlyList<Task>?)_pipes ?? Array.Empty<Task>();

    public void AddAwaiting(Task ask) => (_awaiting ??= new List<Task>(1)).Add(ask);

    public void AddPipe(Task pipe) => (_pipes ??= new List<Task>(1)).Add(pipe);
}

/// <summary>
/// One read of an actor system: the actor tree, busy actors, the place of every pending Ask's request, the async
/// handler behind each awaiting actor, and the Ask wait-for graph. Reads only; built once per dump.
/// </summary>
/// <remarks>
/// An async handler is referenced by nothing an actor holds: RunTask starts it and only continuations point
/// back at the actor. So handlers are found upward: from every pending Ask whose request sits in some actor
/// (the asking handler awaits it), and, when <see cref="TaskTracking"/> is on, from every tracked task whose
/// continuation is RunTask's completion callback.
/// </remarks>
internal sealed class SystemScan
{
    private const int MaxActors = 2_000_000;

    private readonly Dictionary<Task, AskTarget> _asks = new(ReferenceEqualityComparer.Instance);

    // The actor whose handler awaits each pending Ask (found upward from the Ask, once, when handlers are found).
    private readonly Dictionary<Task, ActorState> _askers = new(ReferenceEqualityComparer.Instance);

    // Every actor read, in tree order, in its compact form. Most actors of a large system are idle with nothing
    // queued: they get no ActorState and no entry in _byCell unless a lookup asks for them (then every actor is
    // indexed at once). A dump of 10,000 actors allocated a state and a dictionary entry for each before.
    private readonly ReadActors _read = new();
    private readonly Dictionary<ActorCell, ActorState> _byCell = new(ReferenceEqualityComparer.Instance);
    private bool _indexed;

    // The message the actor being read is processing, and when its timed mailbox says it was taken.
    private object? _current;
    private long? _takenAt;

    // The Asks met in the actor being read (reused from actor to actor).
    private readonly List<(Task Ask, AskPlace Place, int Position, ActorMessage Request)> _found = new();

    // Requests of other nodes' Asks this read looks for (their keys: the asking node's temporary actor paths), where they
    // were met, and those met in the actor being read. Only a node answering another node's question looks.
    private readonly IReadOnlySet<string>? _wanted;
    private readonly Dictionary<string, AskTarget> _remoteHeld = new(StringComparer.Ordinal);
    private readonly List<(string Key, AskPlace Place, int Position, ActorMessage Request)> _foundRemote = new();
    private readonly List<StackError> _errors = new();
    private readonly ActorDumpOptions _options;
    private readonly SystemScans _scans;

    private SystemScan(ActorSystem system, ActorDumpOptions options, SystemScans scans)
    {
        System = system;
        _options = options;
        _scans = scans;
        _wanted = scans.WantedRemoteKeys is { Count: > 0 } wanted ? wanted : null;
    }

    public ActorSystem System { get; }

    public ActorDump? Root { get; private set; }

    public IReadOnlyList<StackError> Errors => _errors;

    /// <summary>Every actor read, in tree order (each gets its state now if it had none).</summary>
    public IEnumerable<ActorState> Actors
    {
        get
        {
            for (int i = 0; i < _read.Count; i++)
            {
                yield return Materialize(i);
            }
        }
    }

    /// <summary>How many actors were read.</summary>
    public int ActorCount => _read.Count;

    /// <summary>
    /// The actors that have a state: every busy actor, every actor with something in its mailbox, a pending Ask's
    /// request or a pending PipeTo, and any other a lookup asked for. A snapshot: later lookups may add states.
    /// </summary>
    public ActorState[] Detailed => _byCell.Values.ToArray();

    /// <summary>Reads the system's actors and links pending Asks and handlers, as part of <paramref name="scans"/> (see <see cref="SystemScans.For"/>). Never throws.</summary>
    internal static SystemScan Read(ActorSystem system, ActorDumpOptions options, SystemScans scans)
    {
        var scan = new SystemScan(system, options, scans);
        try
        {
            scan.ReadTree();
            scan.FindHandlers();
        }
        catch (Exception e)
        {
            scan._errors.Add(new StackError("reading the actor system failed part way: " + e.Message, e.GetType().FullName));
        }
        return scan;
    }

    /// <summary>
    /// A scan of another system of this process, read once per scan of this one (for the holder of an Ask that left
    /// this system over Akka.Remote; see <see cref="RemoteAsks"/>).
    /// </summary>
    public SystemScan ScanOf(ActorSystem other) => _scans.For(other);

    public AskTarget? TargetOf(Task ask) => _asks.TryGetValue(ask, out AskTarget? target) ? target : null;

    /// <summary>The actor whose handler awaits <paramref name="ask"/>, or null (an Ask awaited outside any actor, or piped).</summary>
    public ActorState? AskerOf(Task ask) => _askers.GetValueOrDefault(ask);

    /// <summary>Every pending Ask an actor's handler awaits, with that actor.</summary>
    public IReadOnlyDictionary<Task, ActorState> AskersOfAsks => _askers;

    /// <summary>The actor holding the request of another node's Ask, by the Ask's key (<see cref="SystemScans.WantedRemoteKeys"/>).</summary>
    public AskTarget? HolderOf(string remoteAskKey) => _remoteHeld.TryGetValue(remoteAskKey, out AskTarget? target) ? target : null;

    /// <summary>Every pending Ask of this system: awaited by an actor's handler, piped, or awaited outside any actor.</summary>
    public IEnumerable<Task> PendingAsksOfSystem() => PendingAsks();

    public ActorState? StateOf(IActorRef actor) => actor is ActorRefWithCell { Underlying: ActorCell cell } ? StateOf(cell) : null;

    public ActorState? StateOf(ActorCell cell)
    {
        if (_byCell.TryGetValue(cell, out ActorState? state))
        {
            return state;
        }
        if (_indexed)
        {
            return null;
        }
        _indexed = true; // once per scan, and only if some actor without a state is looked up
        for (int i = 0; i < _read.Count; i++)
        {
            Materialize(i);
        }
        return _byCell.TryGetValue(cell, out state) ? state : null;
    }

    private ActorState Materialize(int index)
    {
        var (self, cell, dump) = _read.At(index);
        if (!_byCell.TryGetValue(cell, out ActorState? state))
        {
            _byCell[cell] = state = new ActorState(self, cell, dump);
        }
        return state;
    }

    /// <summary>Ask cycles in the wait-for graph (asker → the actor holding its request), each reported once (the kit's <see cref="WaitForGraph{TNode}"/>).</summary>
    public IReadOnlyList<Deadlock> Deadlocks()
    {
        var graph = new WaitForGraph<ActorState>(static s => s.Dump.Path, ReferenceEqualityComparer.Instance);
        foreach (ActorState asker in _byCell.Values)
        {
            foreach (Task ask in asker.Awaiting)
            {
                if (_asks.TryGetValue(ask, out AskTarget? target) && target.Place is AskPlace.Processing or AskPlace.Queued && target.Target.Dump.IsBusy)
                {
                    graph.AddEdge(asker, target.Target);
                }
            }
        }
        return graph.FindCycles(AskCycle);
    }

    /// <summary>What Akka deadlocks are: Asks waiting for each other.</summary>
    public const string AskCycle = "Ask cycle";

    private void ReadTree()
    {
        if (System is not ExtendedActorSystem extended || extended.Provider.RootGuardian is not ActorRefWithCell root)
        {
            _errors.Add(new StackError("the actor system has no local root guardian to read"));
            return;
        }
        Root = ReadActor(root, 0);
    }

    private ActorDump? ReadActor(ActorRefWithCell actor, int depth)
    {
        if (actor.Underlying is not ActorCell cell || _read.Count >= MaxActors)
        {
            return null;
        }
        _found.Clear();
        _foundRemote.Clear();
        ActorDump dump = Describe(actor, cell);
        _read.Add((actor, cell, dump));
        if (_found.Count > 0 || _foundRemote.Count > 0 || dump.Activity != ActorActivity.Idle || dump.MailboxCount > 0)
        {
            ActorState state = Materialize(_read.Count - 1);
            if (dump.IsBusy)
            {
                (state.Current, state.TakenAt) = (_current, _takenAt);
            }
            foreach (var (key, place, position, request) in _foundRemote)
            {
                if (!_remoteHeld.TryGetValue(key, out AskTarget? known) || Rank(place) > Rank(known.Place))
                {
                    _remoteHeld[key] = new AskTarget(state, place, position, request);
                }
            }
            foreach (var (ask, place, position, request) in _found)
            {
                // One request can be met in several actors (an actor that forwarded it keeps the Ask as its last sender):
                // the actor processing it wins, then a mailbox holding it, whatever order the tree is read in.
                if (!_asks.TryGetValue(ask, out AskTarget? known) || Rank(place) > Rank(known.Place))
                {
                    _asks[ask] = new AskTarget(state, place, position, request);
                }
            }
        }

        List<ActorRefWithCell>? refs = depth < 1000 ? SafeChildren(actor) : null;
        if (refs is null)
        {
            dump.SubtreeBusyCount = dump.IsBusy ? 1 : 0; // a leaf: no children, SubtreeCount 1
            return dump;
        }
        var children = new List<ActorDump>(refs.Count);
        int count = 1, busy = dump.IsBusy ? 1 : 0;
        foreach (ActorRefWithCell child in refs)
        {
            if (ReadActor(child, depth + 1) is { } childDump)
            {
                children.Add(childDump);
                count += childDump.SubtreeCount;
                busy += childDump.SubtreeBusyCount;
            }
        }
        children.Sort(ByName);
        dump.Children = children;
        dump.SubtreeCount = count;
        dump.SubtreeBusyCount = busy;
        return dump;
    }

    /// <summary>
    /// The actors read, in chunks of 1,024: one array of 10,000 entries would be a large object (over 85,000 bytes), and
    /// large-object allocations are counted toward the next full collection (a dump of 10,000 actors caused one every few dumps).
    /// </summary>
    private sealed class ReadActors
    {
        private const int ChunkBits = 10;
        private const int ChunkSize = 1 << ChunkBits;
        private readonly List<(ActorRefWithCell, ActorCell, ActorDump)[]> _chunks = new();

        public int Count { get; private set; }

        public void Add((ActorRefWithCell, ActorCell, ActorDump) actor)
        {
            if ((Count & (ChunkSize - 1)) == 0)
            {
                _chunks.Add(new (ActorRefWithCell, ActorCell, ActorDump)[ChunkSize]);
            }
            _chunks[Count >> ChunkBits][Count & (ChunkSize - 1)] = actor;
            Count++;
        }

        public (ActorRefWithCell Self, ActorCell Cell, ActorDump Dump) At(int index) => _chunks[index >> ChunkBits][index & (ChunkSize - 1)];
    }

    private static readonly Comparer<ActorDump> ByName = Comparer<ActorDump>.Create(static (a, b) => string.CompareOrdinal(a.Name, b.Name));

    /// <summary>How much a place says about where a request is: processing it, then holding it queued, then having taken it.</summary>
    private static int Rank(AskPlace place) => place switch
    {
        AskPlace.Processing => 2,
        AskPlace.Queued => 1,
        _ => 0,
    };

    /// <summary>The actor's children that have cells, or null if it has none or they cannot be read.</summary>
    private List<ActorRefWithCell>? SafeChildren(ActorRefWithCell actor)
    {
        List<ActorRefWithCell>? children = null;
        try
        {
            foreach (IActorRef child in actor.Children) // an immutable container: reading it changes nothing
            {
                if (child is ActorRefWithCell withCell)
                {
                    (children ??= new List<ActorRefWithCell>()).Add(withCell);
                }
            }
            return children;
        }
        catch (Exception e)
        {
            _errors.Add(new StackError($"reading the children of {actor.Path}", e.GetType().FullName));
            return null;
        }
    }

    private ActorDump Describe(ActorRefWithCell actor, ActorCell cell)
    {
        List<(Task, AskPlace, int, ActorMessage)> asks = _found;
        Mailbox? mailbox = cell.Mailbox;
        int? status = mailbox is null ? null : AkkaInternals.MailboxStatus(mailbox);
        object? awaited = AkkaInternals.TaskScheduler(cell)?.CurrentMessage;
        // Akka leaves CurrentMessage set when a message fails and after a system message such as Failed (a
        // supervisor's), so it means "running" only while a thread runs the mailbox: its Scheduled bit is set.
        object? running = status is { } known && (known & ScheduledBit) == 0 ? null : cell.CurrentMessage;
        ActorActivity activity = ((status ?? 0) & ClosedBit) != 0 ? ActorActivity.Stopped
            : awaited is not null ? ActorActivity.Awaiting
            : running is not null ? ActorActivity.Running
            : ActorActivity.Idle;

        string path = actor.Path.ToString();
        var dump = new ActorDump(path, actor.Path.Name, ActorTypeName(cell.Props?.Type), activity);
        object? current = awaited ?? running;
        (_current, _takenAt) = (null, null);
        if (dump.IsBusy)
        {
            IActorRef? sender = SafeSender(cell);
            dump.Message = Render(current, sender);
            _current = current;
            if (mailbox?.MessageQueue is TimedMessageQueue timed && timed.TakenAt(current) is { } takenAt)
            {
                _takenAt = takenAt;
                dump.BusyFor = Stopwatch.GetElapsedTime(takenAt);
            }
            if (AkkaInternals.AskTask(sender) is { } ask)
            {
                asks.Add((ask, AskPlace.Processing, 0, dump.Message));
            }
            else if (_wanted is not null && WantedKey(sender) is { } key)
            {
                _foundRemote.Add((key, AskPlace.Processing, 0, dump.Message));
            }
        }
        else if (activity == ActorActivity.Idle && SafeSender(cell) is { } last)
        {
            if (AkkaInternals.AskTask(last) is { IsCompleted: false } unanswered)
            {
                asks.Add((unanswered, AskPlace.TakenNoReply, 0, Render(null, null)));
            }
            else if (_wanted is not null && WantedKey(last) is { } key)
            {
                _foundRemote.Add((key, AskPlace.TakenNoReply, 0, Render(null, null)));
            }
        }
        if (status != Open)
        {
            ReadMailbox(mailbox, dump);
        }
        return dump;
    }

    /// <summary>
    /// Reads the queue unless the status word says it is empty: Akka schedules an open mailbox when a message is
    /// enqueued and unschedules it only once drained (then schedules it again if more came), so an open mailbox that is
    /// neither scheduled nor suspended holds nothing but a message being enqueued at this very moment. Most actors of a
    /// large system are such, and their queue objects are then not touched at all.
    /// </summary>
    private void ReadMailbox(Mailbox? mailbox, ActorDump dump)
    {
        if (mailbox?.MessageQueue is not { } queue)
        {
            return;
        }
        try
        {
            dump.MailboxCount = queue.Count;
        }
        catch (Exception)
        {
            return;
        }
        if (dump.MailboxCount > 0 && AkkaInternals.EnvelopeQueue(queue) is { } envelopes)
        {
            ReadQueued(envelopes, dump); // apart, so that an empty mailbox costs no closure
        }
    }

    private void ReadQueued(ConcurrentQueue<Envelope> envelopes, ActorDump dump)
    {
        List<(Task, AskPlace, int, ActorMessage)> asks = _found;
        var shown = new List<ActorMessage>();
        int position = 0;
        QueueReader<Envelope>.Read(envelopes, envelope =>
        {
            position++;
            ActorMessage? rendered = null;
            if (shown.Count < _options.QueuedShown)
            {
                shown.Add(rendered = Render(envelope.Message, envelope.Sender));
            }
            if (AkkaInternals.AskTask(envelope.Sender) is { IsCompleted: false } ask)
            {
                asks.Add((ask, AskPlace.Queued, position, rendered ?? Render(envelope.Message, envelope.Sender)));
            }
            else if (_wanted is not null && WantedKey(envelope.Sender) is { } key)
            {
                _foundRemote.Add((key, AskPlace.Queued, position, rendered ?? Render(envelope.Message, envelope.Sender)));
            }
            return position < 100_000;
        });
        dump.Queued = shown;
    }

    /// <summary>
    /// Finds each awaiting actor's handler, and each pending PipeTo, upward from the Asks they await and from tracked
    /// tasks. A PipeTo (an async method of Akka's PipeToSupport awaiting the piped task) belongs to its recipient.
    /// </summary>
    private void FindHandlers()
    {
        var pipes = new HashSet<Task>(ReferenceEqualityComparer.Instance);
        foreach (Task ask in PendingAsks())
        {
            // The asker awaits in its handler, so it was read busy and has a state: no lookup of idle actors here.
            if (Climb(ask) is { } found && _byCell.TryGetValue(found.Cell, out ActorState? asker))
            {
                asker.HandlerRoot ??= found.Root;
                asker.AddAwaiting(ask);
                _askers[ask] = asker;
            }
            else if (PipeAbove(ask) is { } pipe)
            {
                pipes.Add(pipe);
            }
        }
        if (!TaskGraph.TryTrackedTasks(out IReadOnlyList<Task> trackedTasks, out string? busy))
        {
            _errors.Add(new StackError(busy + "; handlers awaiting anything but an Ask are shown without their stacks"));
        }
        foreach (Task tracked in trackedTasks)
        {
            if (tracked.IsCompleted)
            {
                continue;
            }
            if (IsPipeTo(tracked))
            {
                pipes.Add(tracked); // every pending async method box is tracked, PipeTo's own included
            }
            else if (HandlerCellOf(tracked) is { } cell && _byCell.TryGetValue(cell, out ActorState? state))
            {
                state.HandlerRoot ??= tracked;
            }
        }
        foreach (Task pipe in pipes)
        {
            if (PipeRecipient(pipe) is IActorRef recipient && StateOf(recipient) is { } state)
            {
                state.AddPipe(pipe);
            }
        }
    }

    /// <summary>The pending PipeTo that awaits <paramref name="start"/> (directly or through other async methods), if any.</summary>
    public static Task? PipeAbove(object start) =>
        TaskGraph.FindAbove(start, static node => node is Task task && IsPipeTo(task), static c => !IsAskBookkeeping(c.Callback)) as Task;

    /// <summary>Whether <paramref name="task"/> is the async method box of one of Akka's PipeTo overloads.</summary>
    public static bool IsPipeTo(Task task) => TaskGraph.AsyncMethodOf(task)?.DeclaringType == typeof(PipeToSupport);

    /// <summary>The recipient a PipeTo box will tell the result to (its <c>recipient</c> parameter).</summary>
    public static ICanTell? PipeRecipient(Task pipe) => TaskGraph.ReadHoisted(pipe, "recipient") as ICanTell;

    /// <summary>The task or IValueTaskSource a PipeTo box awaits (its <c>taskToPipe</c> parameter, a task or a ValueTask); null if unknown.</summary>
    public static object? PipedTask(Task pipe) => TaskGraph.OperationOf(TaskGraph.ReadHoisted(pipe, "taskToPipe"));

    /// <summary>
    /// Every pending Ask of the system, wherever its request is (a mailbox, a handler, dead letters, another
    /// system): each Ask registers its temporary actor in the provider's temp container until it completes.
    /// Read through the container's lock-free enumerator (its ForEachChild takes every lock of the dictionary).
    /// </summary>
    private IEnumerable<Task> PendingAsks()
    {
        var asks = new HashSet<Task>(_asks.Keys, ReferenceEqualityComparer.Instance);
        if (System is ExtendedActorSystem extended && extended.Provider.TempContainer is { } temp
            && AkkaInternals.Getter(temp.GetType(), "_children")?.Invoke(temp) is IEnumerable<KeyValuePair<string, IInternalActorRef>> children)
        {
            try
            {
                foreach (KeyValuePair<string, IInternalActorRef> child in children)
                {
                    if (AkkaInternals.AskTask(child.Value) is { IsCompleted: false } ask)
                    {
                        asks.Add(ask);
                    }
                }
            }
            catch (Exception e)
            {
                _errors.Add(new StackError("reading the pending Asks", e.GetType().FullName));
            }
        }
        return asks;
    }

    /// <summary>The actor whose RunTask handler awaits <paramref name="start"/> (directly or through other async methods), and the handler's task.</summary>
    public static (ActorCell Cell, Task Root)? Climb(object start)
    {
        ActorCell? cell = null;
        object? root = TaskGraph.FindAbove(start, node => node is Task task && (cell = HandlerCellOf(task)) is not null, static c => !IsAskBookkeeping(c.Callback));
        return root is Task task && cell is not null ? (cell, task) : null;
    }

    /// <summary>
    /// The actor whose RunTask started <paramref name="task"/>: RunTask's completion callback (a ContinueWith) is
    /// registered on it, or on the Unwrap promise over it when the handler's task was not yet created when Unwrap
    /// ran (when it was, as usual, Unwrap returns the handler's task itself).
    /// </summary>
    public static ActorCell? HandlerCellOf(Task task)
    {
        foreach (TaskContinuation c in TaskGraph.ContinuationsOf(task))
        {
            if (c.Kind == TaskContinuationKind.ContinueWith && RunTaskCell(c.Callback) is { } direct)
            {
                return direct;
            }
            if (c.Kind != TaskContinuationKind.Promise || c.Target is not Task promise)
            {
                continue;
            }
            foreach (TaskContinuation after in TaskGraph.ContinuationsOf(promise))
            {
                if (after.Kind == TaskContinuationKind.ContinueWith && RunTaskCell(after.Callback) is { } cell)
                {
                    return cell;
                }
            }
        }
        return null;
    }

    /// <summary>Whether <paramref name="task"/> is the task of an Ask (its bookkeeping continuation is registered on it).</summary>
    public static bool IsAsk(Task task)
    {
        foreach (TaskContinuation c in TaskGraph.ContinuationsOf(task))
        {
            if (IsAskBookkeeping(c.Callback))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The continuation Ask registers to unregister its temporary actor (a closure of Akka.Actor.Futures).</summary>
    private static bool IsAskBookkeeping(Delegate? callback) => callback?.Method.DeclaringType is { } closure && closure.DeclaringType == typeof(Futures);

    /// <summary>The actor captured by RunTask's completion callback (a closure of ActorTaskScheduler with a <c>context</c> field).</summary>
    private static ActorCell? RunTaskCell(Delegate? callback) =>
        callback is { Target: { } closure } && callback.Method.DeclaringType?.DeclaringType == typeof(ActorTaskScheduler)
            ? AkkaInternals.Getter(closure.GetType(), "context")?.Invoke(closure) as ActorCell
            : null;

    /// <summary>
    /// The key of another node's Ask when <paramref name="sender"/> is its temporary actor and this read looks for it:
    /// a remote reference (no cell here) whose path, with its node's address, is a wanted key.
    /// </summary>
    private string? WantedKey(IActorRef? sender)
    {
        try
        {
            if (sender is null or ActorRefWithCell || sender.IsNobody() || !sender.Path.Address.HasGlobalScope)
            {
                return null;
            }
            string key = sender.Path.ToString();
            return _wanted!.Contains(key) ? key : null;
        }
        catch (Exception)
        {
            return null;
        }
    }

    public static IActorRef? SafeSender(ActorCell cell)
    {
        try
        {
            return cell.Sender;
        }
        catch (Exception)
        {
            return null;
        }
    }

    private ActorMessage Render(object? message, IActorRef? sender)
    {
        string? senderPath = null;
        try
        {
            senderPath = sender is null || sender.IsNobody() ? null : sender.Path.ToString();
        }
        catch (Exception)
        {
            // a sender whose path cannot be read is shown without one
        }
        if (message is null)
        {
            return new ActorMessage("(none)", "", senderPath);
        }
        string text;
        try
        {
            text = message.ToString() ?? "";
        }
        catch (Exception e)
        {
            text = $"(ToString threw {e.GetType().Name})";
        }
        text = text.ReplaceLineEndings(" ");
        if (text.Length > _options.MaxMessageText)
        {
            text = text[.._options.MaxMessageText] + "…";
        }
        return new ActorMessage(TypeName(message.GetType()), text, senderPath);
    }

    // Siblings are mostly of one type: the last name found is reused without a lookup.
    private Type? _lastType;
    private string _lastTypeName = "?";

    private string ActorTypeName(Type? type)
    {
        if (type is null || !ReferenceEquals(type, _lastType))
        {
            _lastTypeName = TypeName(type);
            _lastType = type;
        }
        return _lastTypeName;
    }

    /// <summary>Type names as written in C#; cached per type (a documented cache).</summary>
    private static readonly ConditionalWeakTable<Type, string> s_typeNames = new();

    internal static string TypeName(Type? type) =>
        type is null ? "?" : s_typeNames.GetValue(type, static t => TypeNames.Format(t));

    private const int Open = 0; // Akka's MailboxStatus.Open: not closed, not scheduled, not suspended
    private const int ClosedBit = 1;
    private const int ScheduledBit = 2;
}
