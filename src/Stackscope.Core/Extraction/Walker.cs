using Stackscope.Runtime;
using Stackscope.Symbols;

namespace Stackscope.Extraction;

/// <summary>
/// One extraction: walks down from an object through what each async frame awaits to the leaf, and up
/// through the continuations registered on it to the callers awaiting it. A walker is used once, on one
/// thread; the objects it reads may be changed by other threads at any time, so every read tolerates a
/// value that moved on (a null awaiter, a completed task) and nothing is written.
/// </summary>
internal sealed class Walker
{
    private readonly ExtractOptions _options;
    private readonly HashSet<object> _visited = new(ReferenceEqualityComparer.Instance);
    private readonly List<StackError> _errors = new();
    private bool _truncated;

    public Walker(ExtractOptions? options) => _options = options ?? ExtractOptions.Default;

    /// <summary>Extracts the stack of <paramref name="root"/>: its callers, itself, and what it awaits.</summary>
    public LogicalStack Extract(object? root)
    {
        var down = new List<LogicalFrame>();
        StackLeaf? leaf = null;
        try
        {
            leaf = WalkDown(root, down, FrameFlags.Root);
        }
        catch (Exception e)
        {
            Error("walking down from " + TypeName(root), e);
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
                Error("walking up from " + TypeName(root), e);
            }
        }

        if (up.Count == 0)
        {
            return Finish(down, leaf, awaitedBy);
        }
        up.Reverse();
        up.AddRange(down);
        return Finish(up, leaf, awaitedBy);
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
            Error("walking up from " + TypeName(start), e);
            return null;
        }
    }

    /// <summary>Builds the stack with the errors recorded so far.</summary>
    public LogicalStack Finish(IReadOnlyList<LogicalFrame> frames, StackLeaf? leaf, IReadOnlyList<LogicalStack>? awaitedBy) =>
        new(frames, leaf, awaitedBy, _errors.Count == 0 ? null : _errors.ToArray(), _truncated);

    // ---------------------------------------------------------------- downward

    private StackLeaf? WalkDown(object? current, List<LogicalFrame> frames, FrameFlags flags)
    {
        while (current is not null)
        {
            if (frames.Count >= _options.MaxDepth)
            {
                Truncate($"depth limit of {_options.MaxDepth} frames reached walking down");
                return null;
            }
            if (!_visited.Add(current))
            {
                Truncate($"cycle: {TypeName(current)} awaits itself through {frames.Count} frame(s)");
                return null;
            }

            RuntimeObjects info = RuntimeObjects.For(current.GetType());
            if (info.Kind != ObjectKind.StateMachine)
            {
                return DescribeLeaf(current, info);
            }

            LogicalFrame frame = ReadFrame(current, info.Model!, flags, out object? next, out StackLeaf? leaf);
            frames.Add(frame);
            if (leaf is not null)
            {
                return leaf;
            }
            current = next;
            flags = FrameFlags.None;
        }
        return null;
    }

    /// <summary>Reads one state machine frame and what it is suspended on (an object to continue with, or a leaf).</summary>
    private LogicalFrame ReadFrame(object holder, StateMachineModel model, FrameFlags flags, out object? next, out StackLeaf? leaf)
    {
        next = null;
        leaf = null;
        int state = model.ReadState(holder);
        SuspensionPoint? point = null;
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
                    leaf = new StackLeaf(LeafKind.IteratorYield, "yield return: waiting for the consumer to ask for the next item", null);
                }
            }
            else
            {
                ReadAwaiter(holder, model, point, out next, out leaf);
            }
        }
        else
        {
            frameState = (model.Kind, state) switch
            {
                (FrameKind.Iterator, 0 or -2) => FrameState.NotStarted,
                (FrameKind.AsyncIterator, -3) => FrameState.NotStarted,
                (_, -2) => FrameState.Completed,
                (_, -1) => FrameState.Running,
                _ => FrameState.Unknown,
            };
            if (frameState == FrameState.Unknown)
            {
                // A state with no known await: no symbols-free IL scan matched. Fall back to any awaiter
                // field that is set, as dumpasync does; this is the only place Stackscope guesses.
                ReadAwaiter(holder, model, null, out next, out leaf);
                if (next is not null || leaf is not null)
                {
                    frameState = FrameState.Suspended;
                }
            }
        }

        return new LogicalFrame(model.Kind, model.DisplayName, model.Method, frameState,
            point is { IsYield: false } ? point.Number : null, point?.Location, flags,
            point is { IsYield: true } ? point.Number : null);
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

    private void ReadAwaiter(object holder, StateMachineModel model, SuspensionPoint? point, out object? next, out StackLeaf? leaf)
    {
        next = null;
        leaf = null;
        foreach (AwaiterSlot slot in model.Awaiters)
        {
            if (point?.AwaiterField is { } name && slot.Name != name)
            {
                continue;
            }
            switch (slot.Kind)
            {
                case AwaiterKind.Yield:
                    if (point is not null)
                    {
                        leaf = new StackLeaf(LeafKind.Yield, "Task.Yield(): queued to resume", slot.AwaiterType.FullName);
                        return;
                    }
                    break;
                case AwaiterKind.Task:
                case AwaiterKind.ValueTask:
                    if (slot.Read!(holder) is { } awaited)
                    {
                        next = awaited;
                        return;
                    }
                    break;
                case AwaiterKind.Custom:
                    if (slot.Read!(holder) is { } awaiter && (point is not null || !IsDefault(awaiter)))
                    {
                        leaf = new StackLeaf(LeafKind.Unknown, "awaiting " + MethodNames.FormatType(slot.AwaiterType), slot.AwaiterType.FullName);
                        return;
                    }
                    break;
            }
            if (point is not null)
            {
                // The exact awaiter field is empty: the frame is resuming right now on another thread.
                return;
            }
        }
    }

    private static bool IsDefault(object boxedAwaiter) =>
        boxedAwaiter.GetType().IsValueType && boxedAwaiter.Equals(Activator.CreateInstance(boxedAwaiter.GetType()));

    private StackLeaf DescribeLeaf(object awaited, RuntimeObjects info)
    {
        string typeName = awaited.GetType().FullName ?? awaited.GetType().Name;
        if (awaited is Task task)
        {
            string what = DescribeTask(task, info.Kind, out LeafKind kind);
            if (task.IsCompleted)
            {
                return task.IsFaulted ? FaultLeaf(task, what)
                    : task.IsCanceled ? new StackLeaf(LeafKind.Canceled, what + " (canceled)", typeName)
                    : new StackLeaf(LeafKind.Completed, what + " (completed; the awaiting frame resumes shortly)", typeName);
            }
            return new StackLeaf(kind, what, typeName);
        }

        if (info.Kind == ObjectKind.ValueTaskSource)
        {
            return new StackLeaf(LeafKind.ValueTaskSource, "IValueTaskSource " + MethodNames.FormatType(awaited.GetType()), typeName);
        }
        return new StackLeaf(LeafKind.Unknown, "awaiting " + MethodNames.FormatType(awaited.GetType()), typeName);
    }

    private static string DescribeTask(Task task, ObjectKind objectKind, out LeafKind kind)
    {
        switch (objectKind)
        {
            case ObjectKind.PromiseTask when TaskInternals.Action(task) is null:
                kind = LeafKind.TaskCompletionSource;
                Type t = task.GetType();
                return (t.IsGenericType ? $"TaskCompletionSource<{MethodNames.FormatType(t.GetGenericArguments()[0])}>" : "TaskCompletionSource") + ".Task";
            case ObjectKind.PromiseTask:
                kind = LeafKind.DelegateTask;
                return "Task.Run: " + DescribeDelegate(TaskInternals.Action(task));
            case ObjectKind.ContinueWithTask:
                kind = LeafKind.DelegateTask;
                return "ContinueWith: " + DescribeDelegate(TaskInternals.Action(task));
            case ObjectKind.DelayPromise:
                kind = LeafKind.Delay;
                return "Task.Delay";
            case ObjectKind.SemaphoreWaiter:
                kind = LeafKind.SemaphoreWait;
                return "SemaphoreSlim.WaitAsync";
            case ObjectKind.WhenAll:
                kind = LeafKind.Combinator;
                return "Task.WhenAll (the runtime keeps no reference down to its tasks)";
            case ObjectKind.WhenAny:
                kind = LeafKind.Combinator;
                return "Task.WhenAny (the runtime keeps no reference down to its tasks)";
            case ObjectKind.Unwrap:
                kind = LeafKind.Combinator;
                return "Unwrap of an async delegate's task (Task.Run(async ...))";
            default:
                kind = LeafKind.Unknown;
                return "task of type " + MethodNames.FormatType(task.GetType());
        }
    }

    private static string DescribeDelegate(Delegate? d) => d is null ? "(no delegate)" : MethodNames.ForSyncMethod(d.Method);

    private static StackLeaf FaultLeaf(Task task, string what)
    {
        Exception? e = TaskFaults.FirstException(task);
        string detail = e is null ? "faulted" : $"faulted: {e.GetType().Name}: {e.Message}";
        return new StackLeaf(LeafKind.Faulted, $"{what} ({detail})", task.GetType().FullName);
    }

    // ---------------------------------------------------------------- upward

    private IReadOnlyList<LogicalStack>? WalkUp(object current, List<LogicalFrame> up)
    {
        while (true)
        {
            if (up.Count >= _options.MaxDepth)
            {
                Truncate($"depth limit of {_options.MaxDepth} frames reached walking up");
                return null;
            }

            List<(LogicalFrame Frame, object? Next)> callers = FindCallers(current);
            if (callers.Count == 1)
            {
                up.Add(callers[0].Frame);
                if (!Continue(callers[0].Next, out object? next))
                {
                    return null;
                }
                current = next!;
                continue;
            }
            if (callers.Count == 0)
            {
                return null;
            }

            var branches = new List<LogicalStack>(callers.Count);
            foreach (var (frame, nextObject) in callers)
            {
                var chain = new List<LogicalFrame> { frame };
                IReadOnlyList<LogicalStack>? nested = Continue(nextObject, out object? n) ? WalkUp(n!, chain) : null;
                chain.Reverse();
                branches.Add(new LogicalStack(chain, null, nested, null, false));
            }
            return branches;
        }
    }

    private bool Continue(object? next, out object? value)
    {
        value = next;
        if (next is null)
        {
            return false;
        }
        if (!_visited.Add(next))
        {
            Truncate($"cycle: {TypeName(next)} is awaited, through its callers, by itself (a deadlock)");
            return false;
        }
        return true;
    }

    /// <summary>The callers awaiting <paramref name="target"/>: each a frame to show and the object to keep walking up from.</summary>
    private List<(LogicalFrame Frame, object? Next)> FindCallers(object target)
    {
        var result = new List<(LogicalFrame, object?)>();
        if (target is Task task)
        {
            object? continuation = TaskInternals.ContinuationObject(task);
            if (continuation is List<object?> list)
            {
                object?[] snapshot;
                try
                {
                    snapshot = list.ToArray(); // the runtime mutates it under its lock; a torn copy is caught below
                }
                catch (Exception e)
                {
                    Error("reading a continuation list being changed", e);
                    snapshot = Array.Empty<object?>();
                }
                foreach (object? c in snapshot)
                {
                    AddCaller(result, c, 0);
                }
            }
            else if (continuation is not null && !ReferenceEquals(continuation, TaskInternals.CompletionSentinel(null)))
            {
                AddCaller(result, continuation, 0);
            }
        }

        RuntimeObjects info = RuntimeObjects.For(target.GetType());
        if (info.ContinuationState is not null && result.Count == 0)
        {
            object? state = info.ContinuationState(target);
            int before = result.Count;
            if (state is not null)
            {
                AddCaller(result, state, 0);
            }
            if (result.Count == before && info.Continuation?.Invoke(target) is Delegate d && !IsRuntimeSentinel(d))
            {
                AddCaller(result, d, 0);
            }
        }
        return result;
    }

    private static bool IsRuntimeSentinel(Delegate d) =>
        d.Method.DeclaringType?.FullName?.StartsWith("System.Threading.Tasks.Sources.ManualResetValueTaskSourceCoreShared", StringComparison.Ordinal) == true;

    private void AddCaller(List<(LogicalFrame, object?)> result, object? continuation, int hops)
    {
        if (continuation is null)
        {
            return;
        }
        if (hops > 16)
        {
            Error("continuation wrappers nested more than 16 deep: " + TypeName(continuation));
            return;
        }

        RuntimeObjects info = RuntimeObjects.For(continuation.GetType());
        switch (info.Kind)
        {
            case ObjectKind.StateMachine:
                result.Add((ReadFrame(continuation, info.Model!, FrameFlags.None, out _, out _), continuation));
                return;
            case ObjectKind.ContinuationWrapper:
            case ObjectKind.AwaitTaskContinuation:
                AddCaller(result, info.Next?.Invoke(continuation), hops + 1);
                return;
            case ObjectKind.Delegate:
                var d = (Delegate)continuation;
                if (d.Target is { } target && RuntimeObjects.For(target.GetType()).Kind is ObjectKind.StateMachine or ObjectKind.ContinuationWrapper)
                {
                    AddCaller(result, target, hops + 1);
                }
                else
                {
                    result.Add((Combinator("continuation " + DescribeDelegate(d), FrameState.Suspended), null));
                }
                return;
            case ObjectKind.ContinueWithTaskContinuation:
                if (info.Next?.Invoke(continuation) is Task next)
                {
                    result.Add((Combinator("ContinueWith: " + DescribeDelegate(TaskInternals.Action(next)), StateOf(next)), next));
                }
                return;
            case ObjectKind.WhenAll:
                result.Add((Combinator("Task.WhenAll", StateOf((Task)continuation)), continuation));
                return;
            case ObjectKind.WhenAny:
                result.Add((Combinator("Task.WhenAny", StateOf((Task)continuation)), continuation));
                return;
            case ObjectKind.Unwrap:
                result.Add((Combinator("Unwrap (Task.Run of an async delegate)", StateOf((Task)continuation)), continuation));
                return;
            case ObjectKind.BlockingWait:
                result.Add((new LogicalFrame(FrameKind.Sync, "a thread blocked waiting synchronously (Task.Wait, .Result or GetAwaiter().GetResult())",
                    null, FrameState.Running, null, null), null));
                return;
            default:
                result.Add((Combinator("continuation " + MethodNames.FormatType(continuation.GetType()), FrameState.Unknown),
                    continuation is Task ? continuation : null));
                return;
        }
    }

    private static LogicalFrame Combinator(string name, FrameState state) =>
        new(FrameKind.Combinator, name, null, state, null, null);

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

    private static string TypeName(object? o) => o is null ? "null" : MethodNames.FormatType(o.GetType());
}
