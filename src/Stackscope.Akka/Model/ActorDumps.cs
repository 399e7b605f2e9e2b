using Stackscope.Glue;
namespace Stackscope.Akka;

/// <summary>What an actor is doing when the dump is taken.</summary>
public enum ActorActivity
{
    /// <summary>Not processing a message.</summary>
    Idle,

    /// <summary>Running a handler synchronously, on some thread.</summary>
    Running,

    /// <summary>Suspended in an async handler (ReceiveAsync, RunTask): its mailbox waits until the handler's task completes.</summary>
    Awaiting,

    /// <summary>Stopped: its mailbox is closed and messages sent to it go to dead letters.</summary>
    Stopped,
}

/// <summary>A message, as a dump shows it.</summary>
/// <param name="TypeName">The message's type, as written in C#.</param>
/// <param name="Text">A short rendering (its ToString, cut at <see cref="ActorDumpOptions.MaxMessageText"/> characters).</param>
/// <param name="SenderPath">The sender's path; an Ask's sender is its temporary actor (<c>/temp/...</c>).</param>
public sealed record ActorMessage(string TypeName, string Text, string? SenderPath)
{
    /// <summary>
    /// When the sender is an Ask's temporary actor: the actor whose handler awaits that Ask, if known (its path; with its
    /// node's address when the Ask came from another node of a cluster-wide dump). Set for the message being processed.
    /// </summary>
    public string? AskedBy { get; init; }
}

/// <summary>A pending <c>PipeTo</c>: a task whose result Akka will tell to an actor once it completes.</summary>
/// <param name="Recipient">The path of the actor the result will be told to.</param>
/// <param name="Stack">The logical stack of the piped task (what it is waiting for now).</param>
public sealed record ActorPipe(string Recipient, LogicalStack Stack);

/// <summary>One actor in a dump, with its children.</summary>
public sealed class ActorDump
{
    internal ActorDump(string path, string name, string actorTypeName, ActorActivity activity)
    {
        Path = path;
        Name = name;
        ActorTypeName = actorTypeName;
        Activity = activity;
    }

    /// <summary>
    /// The actor's path, e.g. <c>akka://orders/user/billing</c>; in <see cref="ActorNodeDump.BusyActors"/>, with its node's
    /// address (<c>akka.tcp://orders@127.0.0.1:4053/user/billing</c>), as other nodes name it.
    /// </summary>
    public string Path { get; }

    /// <summary>The last element of the path.</summary>
    public string Name { get; }

    /// <summary>The actor's class, as written in C#.</summary>
    public string ActorTypeName { get; }

    /// <summary>What the actor is doing.</summary>
    public ActorActivity Activity { get; }

    /// <summary>
    /// Whether it is under the system guardian (<c>/system</c>: Akka's own loggers and remoting endpoints, Stackscope's node
    /// actor), by its path, local or with an address: what dumps and the stuck-work source leave out unless asked.
    /// </summary>
    internal bool IsUnderSystemGuardian
    {
        get
        {
            int scheme = Path.IndexOf("://", StringComparison.Ordinal);
            int slash = Path.IndexOf('/', scheme < 0 ? 0 : scheme + 3);
            return slash >= 0 && Path.AsSpan(slash).StartsWith("/system", StringComparison.Ordinal)
                && (Path.Length == slash + 7 || Path[slash + 7] == '/');
        }
    }

    /// <summary>Whether it is processing a message (<see cref="ActorActivity.Running"/> or <see cref="ActorActivity.Awaiting"/>).</summary>
    public bool IsBusy => Activity is ActorActivity.Running or ActorActivity.Awaiting;

    // What only busy actors, and actors with mail or pending PipeTo operations, have: kept aside so that the node of
    // an idle actor (most of a large system) is small (a dump of 10,000 actors allocated these fields for each).
    private Details? _details;

    private Details More => _details ??= new Details();

    /// <summary>The message being processed, when busy.</summary>
    public ActorMessage? Message { get => _details?.Message; internal set => More.Message = value; }

    /// <summary>
    /// How long the message has been processed; known when the actor's mailbox is Stackscope's timed mailbox
    /// (<see cref="StackscopeAkka.TimedMailboxConfig"/>), null otherwise.
    /// </summary>
    public TimeSpan? BusyFor { get => _details?.BusyFor; internal set => More.BusyFor = value; }

    /// <summary>The logical stack of the async handler, when <see cref="ActorActivity.Awaiting"/> and its task was found.</summary>
    public LogicalStack? Stack { get => _details?.Stack; internal set => More.Stack = value; }

    /// <summary>
    /// Pending <c>PipeTo</c> operations whose recipient is this actor (typically <c>SomeAsync().PipeTo(Self)</c>: the
    /// handler returned, the piped task still runs), each with the piped task's stack. Found from the Asks they pipe,
    /// or with <see cref="TaskTracking"/> on.
    /// </summary>
    public IReadOnlyList<ActorPipe> PendingPipes { get => _details?.PendingPipes ?? Array.Empty<ActorPipe>(); internal set => More.PendingPipes = value; }

    /// <summary>Why there is no stack, or what else is worth knowing about this actor's state.</summary>
    public string? Note { get => _details?.Note; internal set => More.Note = value; }

    /// <summary>Messages waiting in the mailbox.</summary>
    public int MailboxCount { get; internal set; }

    /// <summary>The first few queued messages, oldest first (at most <see cref="ActorDumpOptions.QueuedShown"/>).</summary>
    public IReadOnlyList<ActorMessage> Queued { get => _details?.Queued ?? Array.Empty<ActorMessage>(); internal set => More.Queued = value; }

    /// <summary>The actor's children, in name order.</summary>
    public IReadOnlyList<ActorDump> Children { get; internal set; } = Array.Empty<ActorDump>();

    /// <summary>Number of actors in this subtree, this one included.</summary>
    public int SubtreeCount { get; internal set; } = 1;

    /// <summary>Number of busy actors in this subtree, this one included.</summary>
    public int SubtreeBusyCount { get; internal set; }

    /// <inheritdoc />
    public override string ToString() => $"{Path} ({Activity})";

    private sealed class Details
    {
        public ActorMessage? Message;
        public TimeSpan? BusyFor;
        public LogicalStack? Stack;
        public IReadOnlyList<ActorPipe>? PendingPipes;
        public string? Note;
        public IReadOnlyList<ActorMessage>? Queued;
    }
}

/// <summary>An actor system's actors at one moment: the tree from the root guardian, what each busy actor is doing and why, and Ask deadlocks.</summary>
public sealed class ActorSystemDump
{
    internal ActorSystemDump(string systemName, ActorDump root, IReadOnlyList<Deadlock> deadlocks, IReadOnlyList<StackError> errors, ActorDumpOptions options,
        IReadOnlyList<ActorNodeDump>? nodes = null)
    {
        Nodes = nodes ?? Array.Empty<ActorNodeDump>();
        SystemName = systemName;
        Root = root;
        Deadlocks = deadlocks;
        Errors = errors;
        Options = options;
    }

    /// <summary>The actor system's name.</summary>
    public string SystemName { get; }

    /// <summary>The root guardian (<c>/</c>) and, under it, every actor.</summary>
    public ActorDump Root { get; }

    /// <summary>
    /// With <see cref="ActorDumpOptions.WholeCluster"/>: every member of the cluster, this node first, then the others in
    /// address order, each with its busy actors or why it did not answer. Empty otherwise.
    /// </summary>
    public IReadOnlyList<ActorNodeDump> Nodes { get; }

    /// <summary>Ask cycles found among the busy actors (of every node, with <see cref="ActorDumpOptions.WholeCluster"/>, named by full paths).</summary>
    public IReadOnlyList<Deadlock> Deadlocks { get; }

    /// <summary>What could not be read; the rest of the dump stands.</summary>
    public IReadOnlyList<StackError> Errors { get; }

    /// <summary>The options the dump was taken with; <see cref="ToString()"/> renders with them.</summary>
    public ActorDumpOptions Options { get; }

    /// <summary>Every busy actor, depth first.</summary>
    public IEnumerable<ActorDump> BusyActors => All(Root).Where(static a => a.IsBusy);

    /// <summary>Finds an actor by path or by the part of its path after the address (<c>/user/a</c>).</summary>
    public ActorDump? Find(string path) =>
        All(Root).FirstOrDefault(a => a.Path == path || a.Path.EndsWith(path, StringComparison.Ordinal) && a.Path[..^path.Length].EndsWith(SystemName, StringComparison.Ordinal));

    /// <summary>The dump as text: deadlocks first, then the actor tree (or only busy actors), idle actors one line each and long runs of idle siblings collapsed.</summary>
    public override string ToString() => Formatting.ActorDumpFormatter.Format(this);

    private static IEnumerable<ActorDump> All(ActorDump root)
    {
        var stack = new Stack<ActorDump>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            ActorDump current = stack.Pop();
            yield return current;
            for (int i = current.Children.Count - 1; i >= 0; i--)
            {
                stack.Push(current.Children[i]);
            }
        }
    }
}

/// <summary>One member of the cluster in a cluster-wide dump (<see cref="ActorDumpOptions.WholeCluster"/>).</summary>
public sealed class ActorNodeDump
{
    private ActorNodeDump(string address, string membership, bool isThisNode, string? failure, int actorCount,
        IReadOnlyList<ActorDump> busyActors, IReadOnlyList<StackError> errors)
    {
        Address = address;
        Membership = membership;
        IsThisNode = isThisNode;
        Failure = failure;
        ActorCount = actorCount;
        BusyActors = busyActors;
        Errors = errors;
    }

    /// <summary>The node's address, e.g. <c>akka.tcp://orders@127.0.0.1:4053</c>.</summary>
    public string Address { get; }

    /// <summary>Its membership status as the reading node sees it (<c>Up</c>, <c>Leaving</c>, ..., with <c>unreachable</c> when its failure detector says so).</summary>
    public string Membership { get; }

    /// <summary>Whether this is the node the dump was taken on.</summary>
    public bool IsThisNode { get; }

    /// <summary>Whether the node answered; when it did not, <see cref="Failure"/> says why and it has no actors here.</summary>
    public bool Answered => Failure is null;

    /// <summary>Why the node did not answer ("did not answer within 4.5 s", "has no Stackscope ..."), or null.</summary>
    public string? Failure { get; }

    /// <summary>How many actors the node has (0 when it did not answer).</summary>
    public int ActorCount { get; }

    /// <summary>Its busy actors, named by full paths with the node's address, each stack followed across nodes.</summary>
    public IReadOnlyList<ActorDump> BusyActors { get; }

    /// <summary>What the node could not read.</summary>
    public IReadOnlyList<StackError> Errors { get; }

    /// <inheritdoc />
    public override string ToString() => Answered ? $"{Address}: {BusyActors.Count} busy of {ActorCount} actors" : $"{Address}: {Failure}";

    internal static ActorNodeDump Unanswered(string address, string membership, string failure) =>
        new(address, membership, false, failure, 0, Array.Empty<ActorDump>(), Array.Empty<StackError>());

    /// <summary>A node's dump as it sent it (or as this node would send it): checked field by field, since it came over the network.</summary>
    internal static ActorNodeDump From(Remote.DumpAnswer answer, string membership, bool isThisNode)
    {
        static ActorMessage? Message(Remote.MessageJson? m) => m is null ? null : new ActorMessage(m.Type ?? "?", m.Text ?? "", m.Sender) { AskedBy = m.AskedBy };
        var busy = new List<ActorDump>();
        foreach (Remote.ActorJson? actor in answer.Busy ?? [])
        {
            if (actor?.Path is not { } path)
            {
                continue;
            }
            busy.Add(new ActorDump(path, path[(path.LastIndexOf('/') + 1)..], actor.Type ?? "?", actor.Activity)
            {
                Message = Message(actor.Message),
                BusyFor = actor.BusyForMs is { } ms && double.IsFinite(ms) && ms >= 0 && ms < TimeSpan.MaxValue.TotalMilliseconds ? TimeSpan.FromMilliseconds(ms) : null,
                MailboxCount = Math.Max(0, actor.MailboxCount),
                Queued = (actor.Queued ?? []).Select(Message).OfType<ActorMessage>().ToList(),
                Stack = actor.Stack,
                Note = actor.Note,
                SubtreeBusyCount = 1,
            });
        }
        return new ActorNodeDump(answer.Node ?? "?", membership, isThisNode, null, Math.Max(0, answer.ActorCount), busy,
            (answer.Errors ?? []).Select(static e => new StackError(e)).ToList());
    }
}

/// <summary>What an actor dump shows.</summary>
public sealed record ActorDumpOptions
{
    /// <summary>The defaults: the whole /user tree, system actors summarized in one line.</summary>
    public static ActorDumpOptions Default { get; } = new();

    /// <summary>List only busy actors (and deadlocks), not the tree.</summary>
    public bool OnlyBusy { get; init; }

    /// <summary>Show the /system subtree (loggers, dead-letter listener...) like /user instead of one summary line.</summary>
    public bool IncludeSystemActors { get; init; }

    /// <summary>How many queued messages to show per mailbox.</summary>
    public int QueuedShown { get; init; } = 3;

    /// <summary>Idle siblings (idle leaves and all-idle subtrees) beyond this many are collapsed into one line.</summary>
    public int IdleSiblingsShown { get; init; } = 3;

    /// <summary>Messages' renderings are cut at this many characters.</summary>
    public int MaxMessageText { get; init; } = 80;

    /// <summary>How handler stacks are rendered.</summary>
    public StackFormat StackFormat { get; init; } = StackFormat.Tree;

    /// <summary>Options for extracting handler stacks.</summary>
    public ExtractOptions Extract { get; init; } = ExtractOptions.Default;

    /// <summary>
    /// Read every member of the cluster, not only this node: <see cref="StackscopeAkka.CaptureLogicalStacksAsync"/> asks
    /// each member that uses Stackscope for its busy actors and lists them by node (<see cref="ActorSystemDump.Nodes"/>),
    /// with Ask cycles across nodes as deadlocks. The synchronous dumps never wait for other nodes and ignore it.
    /// </summary>
    public bool WholeCluster { get; init; }

    /// <summary>
    /// How long an asynchronous dump waits for other nodes in all (default 5 s): a node asked by another gets a little
    /// less for the nodes it asks in turn, so answers from several hops away still come in time. A node that does not
    /// answer within it is named with why; the rest of the dump stands.
    /// </summary>
    public TimeSpan RemoteBound { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary><see cref="RemoteBound"/> as waited for: a negative bound waits for nothing.</summary>
    internal TimeSpan RemoteBudget => RemoteBound < TimeSpan.Zero ? TimeSpan.Zero : RemoteBound;
}
