using System.Reflection;
using Stackscope.Glue;
using Stackscope.Reading;
using Stackscope.Runtime;
using Stackscope.Symbols;

namespace Stackscope.Extraction;

/// <summary>
/// One extraction: walks down from an object through what each async frame awaits to the leaf (and into
/// the children of branch points, the resources frames hold and the stacks glue links), and up through
/// the continuations registered on it to the callers awaiting it. A walker is used once, on one thread;
/// the objects it reads may be changed by other threads at any time, so every read tolerates a value
/// that moved on (a null awaiter, a completed task) and nothing is written.
/// </summary>
internal sealed class Walker : IDescentSource<object?>, IAscentSource<object?>
{

    private readonly ExtractOptions _options;
    private readonly HashSet<object> _visited = new(32, ReferenceEqualityComparer.Instance); // a chain of tens of frames without regrowing
    private readonly List<StackError> _errors = new();
    private readonly GlueSet _glue;
    private GlueContext? _context;
    private ReverseLinks? _reverse;
    private bool _reverseTried;
    private bool _truncated;
    private int _framesRead;
    private RuntimeObjects.LastTypeCache _types; // a chain's frames are mostly of few types: the dictionary only on a change
    private readonly IReadOnlyDictionary<object, int>? _shared;

    /// <param name="options">The extraction's options.</param>
    /// <param name="reverse">Children recovered from continuations, when the caller built them already.</param>
    /// <param name="context">The glue context to share with other walkers of the same extraction (a forest); a new one by default.</param>
    /// <param name="shared">In a forest: the operations several of its stacks await, with how many; a walk from another root ends at them.</param>
    public Walker(ExtractOptions? options, ReverseLinks? reverse = null, GlueContext? context = null, IReadOnlyDictionary<object, int>? shared = null)
    {
        _shared = shared;
        _options = options ?? ExtractOptions.Default;
        GlueRegistry.EnsureDiscovered();
        _glue = GlueRegistry.Current;
        _reverse = reverse;
        _reverseTried = reverse is not null;
        _context = context;
    }

    /// <summary>What glue hooks of this extraction share (created on first use).</summary>
    private GlueContext Context => _context ??= new GlueContext(_options);

    /// <summary>Extracts the stack of <paramref name="root"/>: its callers, itself, and what it awaits.</summary>
    public LogicalStack Extract(object? root)
    {
        var down = new List<LogicalFrame>(32);
        StackLeaf? leaf = null;
        IReadOnlyList<LogicalStack>? children = null;
        try
        {
            leaf = WalkDown(root, down, FrameFlags.Root, out children);
        }
        catch (Exception e)
        {
            Error("walking down from " + Describe(root), e);
        }

        IReadOnlyList<LogicalStack>? awaitedBy = null;
        var up = new List<LogicalFrame>();
        if (_options.IncludeAwaitedBy && root is not null)
        {
            try
            {
                awaitedBy = WalkUp(root, up);
            }
            catch (Exception e)
            {
                Error("walking up from " + Describe(root), e);
            }
        }

        if (up.Count > 0)
        {
            up.Reverse();
            up.AddRange(down);
            down = up;
        }
        return Finish(down, leaf, awaitedBy, children);
    }

    /// <summary>Extracts only downward from <paramref name="root"/>, as a child or forest root (no errors attached).</summary>
    public LogicalStack ExtractDown(object root, FrameFlags flags = FrameFlags.None)
    {
        var frames = new List<LogicalFrame>();
        StackLeaf? leaf = null;
        IReadOnlyList<LogicalStack>? children = null;
        try
        {
            leaf = WalkDown(root, frames, flags, out children);
        }
        catch (Exception e)
        {
            Error("walking down from " + Describe(root), e);
        }
        return new LogicalStack(frames, leaf, null, null, false, children);
    }

    /// <summary>Walks up from <paramref name="start"/>, appending the callers innermost first; returns the forks, if any.</summary>
    public IReadOnlyList<LogicalStack>? ExtractCallers(object start, List<LogicalFrame> up)
    {
        try
        {
            _visited.Add(start);
            return WalkUp(start, up);
        }
        catch (Exception e)
        {
            Error("walking up from " + Describe(start), e);
            return null;
        }
    }

    /// <summary>Builds the stack with the errors recorded so far.</summary>
    public LogicalStack Finish(IReadOnlyList<LogicalFrame> frames, StackLeaf? leaf, IReadOnlyList<LogicalStack>? awaitedBy,
        IReadOnlyList<LogicalStack>? children = null) =>
        new(frames, leaf, awaitedBy, _errors.Count == 0 ? null : _errors.ToArray(), _truncated, children);

    // ---------------------------------------------------------------- downward

    private StackLeaf? WalkDown(object? current, List<LogicalFrame> frames, FrameFlags flags, out IReadOnlyList<LogicalStack>? children) =>
        Descent.Walk<Walker, object?>(this, current, frames, flags, out children);

    // The walk's steps over this process's objects, in the order Descent asks them.

    bool IDescentSource<object?>.IsNull(object? value) => value is null;

    bool IDescentSource<object?>.Enter(object? current, int depth)
    {
        if (depth >= _options.MaxDepth)
        {
            Truncate(Descent.DepthLimit(_options.MaxDepth));
            return false;
        }
        if (++_framesRead > _options.MaxTotalFrames)
        {
            Truncate($"limit of {_options.MaxTotalFrames} frames in one extraction reached");
            return false;
        }
        if (!_visited.Add(current!))
        {
            Truncate(Descent.Cycle(Describe(current), depth));
            return false;
        }
        return true;
    }

    bool IDescentSource<object?>.Ready(object? value, List<LogicalFrame> frames, out StackLeaf? leaf, out IReadOnlyList<LogicalStack>? children)
    {
        if (value is LogicalStack ready)
        {
            leaf = Splice(ready, frames, out children);
            return true;
        }
        leaf = null;
        children = null;
        return false;
    }

    StackLeaf? IDescentSource<object?>.Shared(object? value, int depth, bool start) =>
        depth > 0 && _shared is not null && _shared.TryGetValue(value!, out int awaiters)
            ? new StackLeaf(LeafKind.Shared, LeafRules.Shared(Describe(value), awaiters), value!.GetType().FullName)
            : null;

    bool IDescentSource<object?>.Forwards(object? value, out object? next)
    {
        // A task standing for an IValueTaskSource: what it waits for is the source.
        next = _types.For(value!.GetType()) is { Kind: ObjectKind.ValueTaskSourceTask } info && !((Task)value).IsCompleted ? info.Next?.Invoke(value) : null;
        return next is not null;
    }

    bool IDescentSource<object?>.Frame(object? value, FrameFlags flags, out LogicalFrame? frame, out object? next, out StackLeaf? leaf, out bool prune)
    {
        if (_types.For(value!.GetType()) is not { Kind: ObjectKind.StateMachine, Model: { } model })
        {
            frame = null;
            next = null;
            leaf = null;
            prune = false;
            return false;
        }
        frame = Elaborate(ReadFrame(value, model, flags, out next, out leaf), model, value, out prune);
        return true;
    }

    Continuation<object?>? IDescentSource<object?>.Unwrap(object? current)
    {
        RuntimeObjects info = _types.For(current!.GetType());
        string typeName = current.GetType().FullName ?? current.GetType().Name;
        // Children the runtime keeps no downward reference to, recovered from their upward links (with tracking).
        IReadOnlyList<object>? recovered =
            current is Task { IsCompleted: false } && info.Kind is ObjectKind.WhenAll or ObjectKind.WhenAny or ObjectKind.Unwrap or ObjectKind.PromiseTask or ObjectKind.WaitAsync or ObjectKind.OtherTask
                ? Reverse()?.ChildrenOf(current)
                : null;

        // What glue knows downward comes first: tracking may add children it does not reach, never replace its text.
        if (_glue.UnwrapperFor(current.GetType()) is { } unwrapper && Invoke(unwrapper.Glue, "unwrapper", unwrapper.Hook, current, Context) is { } unwrapped)
        {
            return new Continuation<object?>(unwrapped.Description, WithRecovered(unwrapped.Next, recovered), current is Task t ? StateOf(t) : FrameState.Suspended,
                AlwaysBranches: false, typeName);
        }

        // Branch points whose children are known only through their upward links: an Unwrap's one child continues the stack.
        if (recovered is { Count: > 0 })
        {
            return new Continuation<object?>(LeafRules.Recovered(info.Kind, recovered.Count, Reverse()!.IsForEachAsync(current)), recovered, FrameState.Suspended,
                AlwaysBranches: !(recovered.Count == 1 && info.Kind == ObjectKind.Unwrap), typeName);
        }
        return null;
    }

    StackLeaf? IDescentSource<object?>.Leaf(object? value, object? lastFrame)
    {
        // The awaiting frame's hoisted variables and await say whose semaphore or channel the leaf is.
        StateMachineModel? model = lastFrame is null ? null : _types.For(lastFrame.GetType()).Model;
        SuspensionPoint? point = model?.PointFor(model.ReadState(lastFrame!));
        return DescribeLeaf(value!, _types.For(value!.GetType()), lastFrame, model, point);
    }

    IReadOnlyList<LogicalStack> IDescentSource<object?>.Branches(IReadOnlyList<object?> next) => Children(next!);

    /// <summary>
    /// Continues the stack with one read elsewhere (glue's answer from another process: the handler serving a request
    /// there): its frames, leaf, branches and errors as they are. Its awaited-by callers are not kept; this stack's
    /// frames are its callers here.
    /// </summary>
    private StackLeaf? Splice(LogicalStack ready, List<LogicalFrame> frames, out IReadOnlyList<LogicalStack>? children)
    {
        children = null;
        foreach (LogicalFrame frame in ready.Frames)
        {
            if (frames.Count >= _options.MaxDepth)
            {
                Truncate(Descent.DepthLimit(_options.MaxDepth));
                return null;
            }
            frames.Add(frame);
        }
        _errors.AddRange(ready.Errors);
        _truncated |= ready.IsTruncated;
        children = ready.Children.Count > 0 ? ready.Children : null;
        return ready.Leaf;
    }

    /// <summary>
    /// What glue said an object continues into, plus the children tracking recovered from their upward links that
    /// glue did not name (none, for the runtime's own combinators).
    /// </summary>
    private static IReadOnlyList<object> WithRecovered(IReadOnlyList<object> next, IReadOnlyList<object>? recovered)
    {
        if (recovered is not { Count: > 0 })
        {
            return next;
        }
        List<object>? merged = null;
        foreach (object child in recovered)
        {
            if (!next.Contains(child, ReferenceEqualityComparer.Instance) && (merged is null || !merged.Contains(child, ReferenceEqualityComparer.Instance)))
            {
                (merged ??= new List<object>(next)).Add(child);
            }
        }
        return merged ?? next;
    }

    private IReadOnlyList<LogicalStack> Children(IReadOnlyList<object> next)
    {
        int count = Math.Min(next.Count, _options.MaxChildren);
        var children = new List<LogicalStack>(count);
        for (int i = 0; i < count; i++)
        {
            children.Add(ExtractDown(next[i]));
        }
        if (next.Count > count)
        {
            Error($"{next.Count - count} more children not shown (limit {_options.MaxChildren})");
        }
        return children;
    }

    private ReverseLinks? Reverse()
    {
        if (!_reverseTried)
        {
            _reverseTried = true;
            if (TaskTracking.IsEnabled)
            {
                if (!TaskTracking.TryActiveTasks(out Task[] tracked))
                {
                    Error(TaskTracking.RegistryBusy + " (children found through their continuations: WhenAll, WhenAny, Task.Run)");
                }
                _reverse = ReverseLinks.Build(tracked);
            }
        }
        return _reverse;
    }

    /// <summary>Applies <see cref="StackscopeHiddenAttribute"/> and the glue's frame elaborators. Null means hidden.</summary>
    private LogicalFrame? Elaborate(LogicalFrame frame, StateMachineModel model, object holder, out bool prune)
    {
        prune = false;
        ElaborationCache elaboration = model.Elaboration(_glue);
        if (elaboration.Hidden)
        {
            return null;
        }
        var hooks = elaboration.Hooks;
        if (hooks.Length == 0)
        {
            return frame;
        }
        bool hide = false;
        List<LinkedStack>? links = null;
        var context = new FrameContext(frame, model, holder, Context);
        foreach (var (glue, hook) in hooks)
        {
            if (Invoke(glue, "frame elaborator", hook, context) is not { } said)
            {
                continue;
            }
            hide |= said.Hide;
            prune |= said.PruneInner;
            foreach (StackLink link in said.Links)
            {
                LogicalStack? stack = link.Root switch
                {
                    LogicalStack ready => ready,
                    null => null,
                    object root => ExtractDown(root),
                };
                if (stack is not null)
                {
                    (links ??= new()).Add(new LinkedStack(link.Label, stack));
                }
            }
        }
        if (hide)
        {
            return null;
        }
        FrameFlags flags = prune ? frame.Flags | FrameFlags.Pruned : frame.Flags;
        return links is null && !prune ? frame : frame.With(links ?? (IReadOnlyList<LinkedStack>)frame.Links, flags);
    }

    /// <summary>Calls a glue hook; a hook that throws is recorded as an error and treated as having said nothing.</summary>
    private TResult? Invoke<TArg, TResult>(string glue, string kind, Func<TArg, TResult?> hook, TArg argument) where TResult : class
    {
        try
        {
            return hook(argument);
        }
        catch (Exception e)
        {
            Error($"glue {glue}: {kind} threw", e);
            return null;
        }
    }

    private TResult? Invoke<TResult>(string glue, string kind, Func<object, GlueContext, TResult?> hook, object argument, GlueContext context) where TResult : class
    {
        try
        {
            return hook(argument, context);
        }
        catch (Exception e)
        {
            Error($"glue {glue}: {kind} threw", e);
            return null;
        }
    }

    /// <summary>Reads one state machine frame and what it is suspended on (an object to continue with, or a leaf).</summary>
    private LogicalFrame ReadFrame(object holder, StateMachineModel model, FrameFlags flags, out object? next, out StackLeaf? leaf)
    {
        next = null;
        leaf = null;
        SuspensionPoint? point = null;
        int state = model.ReadState(holder);
        FrameState frameState;

        if (holder is Task { IsCompleted: true } done)
        {
            frameState = done.IsFaulted ? FrameState.Faulted : done.IsCanceled ? FrameState.Canceled : FrameState.Completed;
            if (done.IsFaulted)
            {
                leaf = FaultLeaf(done, "the method threw");
            }
        }
        else if ((point = model.PointFor(state)) is not null)
        {
            frameState = FrameState.Suspended;
            if (point.IsYield)
            {
                next = FindInnerIterator(holder, model);
                if (next is null)
                {
                    leaf = new StackLeaf(LeafKind.IteratorYield, LeafRules.YieldReturn, null);
                }
            }
            else
            {
                ReadAwaiter(holder, model, point, out next, out leaf);
            }
        }
        else
        {
            frameState = model.Description.StateWithoutPoint(state);
            if (frameState == FrameState.Unknown)
            {
                // A state with no await the IL scan found: fall back to any awaiter field that is set, as
                // dumpasync does; this is the only place Stackscope guesses.
                ReadAwaiter(holder, model, null, out next, out leaf);
                if (next is not null || leaf is not null)
                {
                    frameState = FrameState.Suspended;
                }
            }
        }

        IReadOnlyList<HeldResource>? resources = point is { Resources.Length: > 0 } && _options.IncludeResources
            ? ReadResources(holder, model, point, next)
            : null;
        return model.Description.Frame(frameState, point, flags, resources, model.Method);
    }

    private List<HeldResource>? ReadResources(object holder, StateMachineModel model, SuspensionPoint point, object? awaited)
    {
        List<HeldResource>? result = null;
        foreach (ResourceSlot slot in point.Resources)
        {
            object? resource;
            try
            {
                resource = model.FieldReader(slot.Field)?.Invoke(holder);
            }
            catch (Exception e)
            {
                Error("reading resource " + slot.Field, e);
                continue;
            }
            if (resource is null)
            {
                continue; // not acquired yet on this path, or a null resource: nothing is held
            }

            string? description = null;
            object? innerRoot = null;
            object subject = resource;
            if (_glue.DescriberFor(resource.GetType()) is { } describer &&
                Invoke(describer.Glue, "resource describer", describer.Hook, resource, Context) is { } described)
            {
                description = described.Description;
                innerRoot = described.InnerStackRoot;
            }
            // The runtime's own kinds (CancellationTokenSource, SemaphoreSlim, a lock scope over one, Activity), by the rule
            // reads of other processes use; glue registered for a type describes it first.
            if (description is null && RuntimeRules.Resource<object?>(LiveObjects.Instance, resource, out object? kindSubject) is { } known)
            {
                description = known;
                subject = kindSubject!;
            }
            // A resource that is itself suspended async code (an async iterator being enumerated) shows its
            // stack, unless it is what the frame awaits right now: then it is the next frame already.
            if (innerRoot is null && !ReferenceEquals(resource, awaited) && RuntimeObjects.For(resource.GetType()).Kind == ObjectKind.StateMachine)
            {
                innerRoot = resource;
            }
            LogicalStack? inner = innerRoot is not null && !_visited.Contains(innerRoot) ? ExtractDown(innerRoot) : null;

            // An iterator's enumerator is named by the method it runs, not its compiler-generated class.
            string typeName = RuntimeObjects.For(resource.GetType()).Model is { } iterator
                ? iterator.DisplayName
                : MethodNames.FormatType(resource.GetType());
            (result ??= new()).Add(new HeldResource(slot.VariableName, typeName, slot.IsAsync, slot.Location, description, inner) { Subject = subject });
        }
        return result;
    }

    /// <summary>
    /// What a suspended state machine waits on, read without building a frame: the object the walk would
    /// continue with, or null at a leaf. Used to find roots and fingerprints over many tasks quickly.
    /// </summary>
    internal static object? PeekNext(object holder, StateMachineModel model, out int state)
    {
        state = model.ReadState(holder);
        if (model.PointFor(state) is not { } point)
        {
            return null;
        }
        if (point.IsYield)
        {
            return FindInnerIterator(holder, model);
        }
        ReadAwaiter(holder, model, point, out object? next, out _);
        return next;
    }

    private static object? FindInnerIterator(object holder, StateMachineModel model)
    {
        foreach (Func<object, object?> read in model.InnerIterators)
        {
            if (read(holder) is { } inner && RuntimeObjects.For(inner.GetType()).Kind == ObjectKind.StateMachine)
            {
                return inner;
            }
        }
        return null;
    }

    private static void ReadAwaiter(object holder, StateMachineModel model, SuspensionPoint? point, out object? next, out StackLeaf? leaf)
    {
        next = null;
        leaf = null;
        if (point is not null && model.SlotFor(point) is { } exact)
        {
            // The IL scan tied this await to its awaiter field: read that one, and only that one.
            ReadSlot(holder, exact, suspended: true, out next, out leaf);
            return;
        }
        foreach (AwaiterSlot slot in model.Awaiters)
        {
            if (ReadSlot(holder, slot, suspended: point is not null, out next, out leaf))
            {
                return;
            }
        }
    }

    /// <summary>Reads one awaiter field; false if it holds nothing (the frame is resuming, or another await is active).</summary>
    private static bool ReadSlot(object holder, AwaiterSlot slot, bool suspended, out object? next, out StackLeaf? leaf)
    {
        next = null;
        leaf = null;
        switch (slot.Kind)
        {
            case AwaiterKind.Yield:
                if (suspended)
                {
                    leaf = new StackLeaf(LeafKind.Yield, LeafRules.TaskYield, slot.AwaiterType.FullName);
                    return true;
                }
                return false;
            case AwaiterKind.Task:
            case AwaiterKind.ValueTask:
                next = slot.Read!(holder);
                return next is not null;
            default:
                if (slot.Read!(holder) is { } awaiter && (suspended || !IsDefault(awaiter)))
                {
                    next = awaiter; // glue may know it; otherwise it is described as the leaf
                    return true;
                }
                return false;
        }
    }

    private static bool IsDefault(object boxedAwaiter) =>
        boxedAwaiter.GetType().IsValueType && boxedAwaiter.Equals(Activator.CreateInstance(boxedAwaiter.GetType()));

    private StackLeaf DescribeLeaf(object awaited, RuntimeObjects info, object? frameHolder, StateMachineModel? frameModel, SuspensionPoint? framePoint)
    {
        Type type = awaited.GetType();
        string typeName = type.FullName ?? type.Name;
        IEnumerable<(string, object?)> hoisted = frameHolder is not null && frameModel is not null ? HoistedValues(frameHolder, frameModel) : [];
        (LeafKind kind, string what) = LeafRules.Pending<object?>(LiveObjects.Instance, awaited, info.Kind, hoisted, framePoint?.AwaitedCall,
            static d => Continuations.DescribeDelegate(d as Delegate), out object? subject);
        if (awaited is Task { IsCompleted: true } task)
        {
            // A finished promise is no longer anyone's pending TaskCompletionSource: Task.CompletedTask, FromResult,
            // FromCanceled and FromException make such tasks already finished. Say what it is and how it ended.
            if (kind == LeafKind.TaskCompletionSource)
            {
                what = FinishedPromiseName(task);
            }
            return task.IsFaulted ? FaultLeaf(task, what)
                : task.IsCanceled ? new StackLeaf(LeafKind.Canceled, what + " (canceled)", typeName)
                : new StackLeaf(LeafKind.Completed, what + (frameHolder is null ? " (completed)" : " (completed; the awaiting frame resumes shortly)"), typeName);
        }
        return new StackLeaf(kind, what, typeName) { Subject = awaited is Task ? subject : null };
    }

    /// <summary><c>Task.CompletedTask</c>, else the task's type as written (<c>Task</c>, <c>Task&lt;int&gt;</c>).</summary>
    private static string FinishedPromiseName(Task task)
    {
        if (ReferenceEquals(task, Task.CompletedTask))
        {
            return "Task.CompletedTask";
        }
        Type type = task.GetType();
        // A Task<VoidTaskResult> is how the runtime makes a non-generic task it may complete with no result.
        return type.IsGenericType && type.GetGenericArguments()[0].FullName != "System.Threading.Tasks.VoidTaskResult"
            ? MethodNames.FormatType(type)
            : "Task";
    }

    /// <summary>
    /// Finds an object the frame holds (a hoisted variable, or a field of its <c>this</c>) that
    /// <paramref name="match"/> accepts: how a leaf finds the semaphore or channel it belongs to.
    /// </summary>
    private static object? FindInFrame(object? holder, StateMachineModel? model, Func<object, bool> match)
    {
        if (holder is null || model is null)
        {
            return null;
        }
        try
        {
            return RuntimeRules.FindInFrame(LiveObjects.Instance, HoistedValues(holder, model), o => match(o!));
        }
        catch (Exception)
        {
            return null; // a best-effort description: the leaf is still reported without it
        }
    }

    /// <summary>A suspended frame's hoisted reference fields with their values (not its awaiters or builder), read as they are asked for.</summary>
    private static IEnumerable<(string, object?)> HoistedValues(object holder, StateMachineModel model)
    {
        foreach (FieldInfo f in model.HoistedFields)
        {
            if (!f.FieldType.IsValueType && !f.Name.StartsWith("<>u__", StringComparison.Ordinal) && f.Name != "<>t__builder")
            {
                yield return (f.Name, model.FieldReader(f.Name)?.Invoke(holder));
            }
        }
    }

    private static StackLeaf FaultLeaf(Task task, string what)
    {
        Exception? e = TaskFaults.FirstException(task);
        string detail = e is null ? "faulted" : $"faulted: {e.GetType().Name}: {e.Message}";
        return new StackLeaf(LeafKind.Faulted, $"{what} ({detail})", task.GetType().FullName);
    }

    // ---------------------------------------------------------------- upward

    private IReadOnlyList<LogicalStack>? WalkUp(object current, List<LogicalFrame> up) => Ascent.Walk<Walker, object?>(this, current, up);

    IReadOnlyList<(LogicalFrame? Frame, object? Next)> IAscentSource<object?>.Callers(object? value) => FindCallers(value!);

    bool IAscentSource<object?>.Enter(object? next, int depth)
    {
        if (next is null)
        {
            return false;
        }
        if (!_visited.Add(next))
        {
            Truncate(Ascent.Cycle(Describe(next)));
            return false;
        }
        if (depth >= _options.MaxDepth)
        {
            Truncate(Ascent.DepthLimit(_options.MaxDepth));
            return false;
        }
        return true;
    }

    /// <summary>The callers awaiting <paramref name="target"/>: each a frame to show (null if hidden) and the object to keep walking up from.</summary>
    private List<(LogicalFrame? Frame, object? Next)> FindCallers(object target)
    {
        var raw = new List<object>();
        Continuations.Collect(target, raw, (message, e) => Error(message, e));
        var result = new List<(LogicalFrame?, object?)>(raw.Count);
        foreach (object continuation in raw)
        {
            ContinuationLink link = Continuations.Resolve(continuation);
            switch (link.Kind)
            {
                case LinkKind.Caller:
                    StateMachineModel model = RuntimeObjects.For(link.Target!.GetType()).Model!;
                    LogicalFrame frame = ReadFrame(link.Target, model, FrameFlags.None, out _, out _);
                    result.Add((Elaborate(frame, model, link.Target, out _), link.Target));
                    break;
                case LinkKind.Promise:
                case LinkKind.ContinueWith:
                    result.Add((Descent.Combinator(link.Name!, StateOf((Task)link.Target!)), link.Target));
                    break;
                case LinkKind.BlockingWait:
                    result.Add((BlockingWaitFrame, null));
                    break;
                default:
                    result.Add((Descent.Combinator(link.Name ?? "continuation", FrameState.Unknown), null));
                    break;
            }
        }
        return result;
    }

    /// <summary>The frame standing for a thread blocked synchronously on a task.</summary>
    internal static LogicalFrame BlockingWaitFrame { get; } = new(FrameKind.Sync,
        "a thread blocked waiting synchronously (Task.Wait, .Result or GetAwaiter().GetResult())",
        null, FrameState.Running, null, null, FrameFlags.BlockingWait);


    private static FrameState StateOf(Task t) => t.Status switch
    {
        TaskStatus.RanToCompletion => FrameState.Completed,
        TaskStatus.Faulted => FrameState.Faulted,
        TaskStatus.Canceled => FrameState.Canceled,
        TaskStatus.Running => FrameState.Running,
        _ => FrameState.Suspended,
    };

    // ---------------------------------------------------------------- errors

    private void Truncate(string message)
    {
        _truncated = true;
        _errors.Add(new StackError(message));
    }

    private void Error(string message, Exception? e = null) =>
        _errors.Add(new StackError(e is null ? message : $"{message}: {e.Message}", e?.GetType().FullName));

    internal void AddError(string message) => Error(message);

    /// <summary>
    /// What an object is called in errors: a suspended async method or iterator by its method, as its frame is named;
    /// anything else (or a state machine that cannot be read, as in the error being reported) by its type.
    /// </summary>
    internal static string Describe(object? o)
    {
        if (o is null)
        {
            return "null";
        }
        try
        {
            if (RuntimeObjects.For(o.GetType()) is { Kind: ObjectKind.StateMachine, Model: { } model })
            {
                return model.DisplayName;
            }
        }
        catch (Exception)
        {
            // named by its type below
        }
        return MethodNames.FormatType(o.GetType());
    }
}
