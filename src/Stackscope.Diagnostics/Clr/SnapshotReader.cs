using Microsoft.Diagnostics.Runtime;
using Stackscope.Glue;

namespace Stackscope.Diagnostics.Clr;

/// <summary>
/// Reads a <see cref="ProcessSnapshot"/> from a ClrMD runtime: the async operations on the heap (state
/// machine boxes linked through their continuations, including IValueTaskSource continuation state), and
/// every managed thread, joined to the async graph where a thread resumes an async method (the box is a
/// root of the resuming frame) or blocks on a task (the task is a root of its Wait frame).
/// </summary>
internal sealed class SnapshotReader
{
    private const int ProgressEvery = 1 << 16;

    private readonly ClrRuntime _runtime;
    private readonly TargetSymbols _symbols;
    private readonly InspectOptions _options;
    private readonly CancellationToken _cancellation;
    private readonly List<StackError> _errors = new();
    private readonly Dictionary<ulong, Node> _nodes = new();
    private readonly List<Node> _boxes = new();
    private readonly Dictionary<int, string?> _threadNames = new();
    private readonly Dictionary<ulong, TypeKind> _kinds = new();
    private readonly Dictionary<ulong, Layout?> _layouts = new();
    private readonly WindowReader _memory;

    private enum TypeKind { Other, Box, PoolingBox, Thread }

    /// <summary>An async operation on the heap: a state machine box, or a promise task between boxes (WhenAll, ...).</summary>
    /// <remarks>Links are inline fields, not lists: a heap holds 100,000s of nodes, nearly all with one parent and one child.</remarks>
    private sealed class Node(ulong address)
    {
        public ulong Address { get; } = address;
        public ClrType? StateMachineType { get; set; }
        public int State { get; set; }
        public ulong AwaitedAddress { get; set; }
        public ulong ContinuationAddress { get; set; }
        public string? PromiseName { get; set; }
        public bool BlockedOn { get; set; }

        /// <summary>Whether callers can also be linked through IValueTaskSource state (pooling boxes, async iterators).</summary>
        public bool MayHaveSourceState { get; set; }

        /// <summary>The number of nodes awaiting this one.</summary>
        public int ParentCount { get; private set; }

        /// <summary>The first node awaiting this one, if any.</summary>
        public Node? FirstParent { get; private set; }

        /// <summary>The first node this one awaits; the others follow through <see cref="NextSibling"/>.</summary>
        public Node? FirstChild { get; private set; }

        /// <summary>The next node awaited by the same parent as this one (a single-parent node's list).</summary>
        public Node? NextSibling { get; private set; }

        public int ChildCount { get; private set; }

        public void AddParent(Node parent)
        {
            ParentCount++;
            if (FirstParent is null)
            {
                FirstParent = parent;
                NextSibling = parent.FirstChild;
                parent.FirstChild = this;
                parent.ChildCount++;
            }
            else
            {
                // A second awaiter of the same operation: the node appears under both (its stack repeats in each).
                parent.ExtraChildren.Add(this);
                parent.ChildCount++;
            }
        }

        private List<Node>? _extraChildren;

        public List<Node> ExtraChildren => _extraChildren ??= new List<Node>();

        public IEnumerable<Node> Children()
        {
            for (Node? c = FirstChild; c is not null; c = c.NextSibling)
            {
                yield return c;
            }
            if (_extraChildren is not null)
            {
                foreach (Node c in _extraChildren)
                {
                    yield return c;
                }
            }
        }
    }

    public SnapshotReader(ClrRuntime runtime, TargetSymbols symbols, InspectOptions options, CancellationToken cancellation)
    {
        _runtime = runtime;
        _symbols = symbols;
        _options = options;
        _cancellation = cancellation;
        _memory = new WindowReader(runtime.DataTarget.DataReader);
    }

    /// <summary>
    /// Where a state machine's fields are, as offsets from an object's address, computed once per type:
    /// the hot path reads raw memory instead of looking fields up by name for each of 100,000 boxes.
    /// For a box holding a struct state machine the offsets reach into the box; for a state machine class
    /// they are relative to that object.
    /// </summary>
    private sealed record Layout(ClrType StateMachineType, int StateOffset, int[] TaskOffsets, int[] ValueTaskObjectOffsets);

    private Layout? LayoutOf(ClrType smType, int baseOffset)
    {
        ulong key = smType.MethodTable ^ (ulong)baseOffset << 48;
        if (!_layouts.TryGetValue(key, out Layout? layout))
        {
            layout = null;
            if (smType.GetFieldByName("<>1__state") is { } state)
            {
                var tasks = new List<int>();
                var objects = new List<int>();
                foreach (ClrInstanceField f in smType.Fields)
                {
                    if (f.Name?.StartsWith("<>u__", StringComparison.Ordinal) != true || !f.IsValueType || f.Type is not { } awaiter)
                    {
                        continue;
                    }
                    if (awaiter.GetFieldByName("m_task") is { } task)
                    {
                        tasks.Add(baseOffset + f.Offset + task.Offset);
                    }
                    else if (awaiter.GetFieldByName("_value") is { Type: { } valueTask } value && valueTask.GetFieldByName("_obj") is { } obj)
                    {
                        objects.Add(baseOffset + f.Offset + value.Offset + obj.Offset);
                    }
                }
                layout = new Layout(smType, baseOffset + state.Offset, tasks.ToArray(), objects.ToArray());
            }
            _layouts[key] = layout;
        }
        return layout;
    }

    public ProcessSnapshot Read(string source, int processId)
    {
        if (_options.IncludeHeap)
        {
            try
            {
                ScanHeap();
            }
            catch (OperationCanceledException)
            {
                throw;
            }
            catch (Exception e)
            {
                _errors.Add(new StackError("walking the heap failed: " + e.Message, e.GetType().FullName));
            }
        }

        var threads = new List<ThreadStack>();
        foreach (ClrThread thread in _runtime.Threads)
        {
            _cancellation.ThrowIfCancellationRequested();
            if (!thread.IsAlive)
            {
                continue;
            }
            try
            {
                threads.Add(ReadThread(thread));
            }
            catch (Exception e)
            {
                _errors.Add(new StackError($"reading thread {thread.ManagedThreadId} failed: {e.Message}", e.GetType().FullName));
            }
        }

        return new ProcessSnapshot(source, processId, threads, BuildForest(), _errors.ToArray());
    }

    // ---------------------------------------------------------------- heap

    private void ScanHeap()
    {
        long scanned = 0;
        foreach (ClrObject obj in _runtime.Heap.EnumerateObjects())
        {
            if (++scanned % ProgressEvery == 0)
            {
                _cancellation.ThrowIfCancellationRequested();
                _options.Progress?.Report(scanned);
            }
            if (obj.Type is not { } type)
            {
                continue;
            }
            switch (KindOf(type))
            {
                case TypeKind.Thread:
                    _threadNames[obj.ReadField<int>("_managedThreadId")] = obj.ReadStringField("_name");
                    break;
                case TypeKind.Box:
                    if (_stateFlagsOffset < 0)
                    {
                        _stateFlagsOffset = IntPtr.Size + (type.GetFieldByName("m_stateFlags")?.Offset ?? 0);
                    }
                    if ((_memory.ReadInt32(obj.Address + (ulong)_stateFlagsOffset) & CompletedMask) == 0)
                    {
                        AddBox(obj);
                    }
                    break;
                case TypeKind.PoolingBox:
                    AddBox(obj);
                    break;
            }
        }
        _options.Progress?.Report(scanned);

        foreach (Node node in _boxes)
        {
            ResolveParents(node);
        }
    }

    private int _stateFlagsOffset = -1;

    // Task.m_stateFlags bits of a finished task: ran to completion, faulted, canceled.
    private const int CompletedMask = 0x1000000 | 0x200000 | 0x400000;

    private ulong _lastKindTable;
    private TypeKind _lastKind;

    private TypeKind KindOf(ClrType type)
    {
        if (type.MethodTable == _lastKindTable)
        {
            return _lastKind;
        }
        _lastKindTable = type.MethodTable;
        return _lastKind = KindOfUncached(type);
    }

    private TypeKind KindOfUncached(ClrType type)
    {
        if (!_kinds.TryGetValue(type.MethodTable, out TypeKind kind))
        {
            string name = type.Name ?? string.Empty;
            kind = name == "System.Threading.Thread" ? TypeKind.Thread
                : name.StartsWith("System.Runtime.CompilerServices.AsyncTaskMethodBuilder<", StringComparison.Ordinal) &&
                  (name.Contains("+AsyncStateMachineBox<", StringComparison.Ordinal) || name.Contains("+DebugFinalizableAsyncStateMachineBox<", StringComparison.Ordinal))
                    ? TypeKind.Box
                : name.StartsWith("System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<", StringComparison.Ordinal) &&
                  name.Contains("+StateMachineBox<", StringComparison.Ordinal)
                    ? TypeKind.PoolingBox
                : TypeKind.Other;
            _kinds[type.MethodTable] = kind;
        }
        return kind;
    }

    private readonly Dictionary<ulong, (int Offset, bool IsValueType, ClrType? Type, int Continuation)> _stateMachineFields = new();

    private ulong _lastBoxTable;
    private Layout? _lastBoxLayout;
    private ulong _lastBoxFieldsTable;
    private (int Offset, bool IsValueType, ClrType? Type, int Continuation) _lastBoxFields;

    private void AddBox(ClrObject box)
    {
        ClrType boxType = box.Type!;
        var sm = _lastBoxFields;
        if (boxType.MethodTable != _lastBoxFieldsTable && !_stateMachineFields.TryGetValue(boxType.MethodTable, out sm))
        {
            ClrInstanceField? field = boxType.GetFieldByName("StateMachine");
            int continuation = boxType.GetFieldByName("m_continuationObject") is { } c ? IntPtr.Size + c.Offset : -1;
            sm = field is null ? (-1, false, null, -1) : (IntPtr.Size + field.Offset, field.IsValueType, field.Type, continuation);
            _stateMachineFields[boxType.MethodTable] = sm;
        }
        _lastBoxFieldsTable = boxType.MethodTable;
        _lastBoxFields = sm;
        if (sm.Offset < 0)
        {
            return;
        }

        // Struct state machines live inside the box; classes (Debug builds, async iterators) are referenced.
        ulong holder = box.Address;
        Layout? layout;
        if (sm.IsValueType)
        {
            if (boxType.MethodTable != _lastBoxTable)
            {
                _lastBoxLayout = sm.Type is { } smType ? LayoutOf(smType, sm.Offset) : null;
                _lastBoxTable = boxType.MethodTable;
            }
            layout = _lastBoxLayout;
        }
        else
        {
            holder = _memory.ReadPointer(box.Address + (ulong)sm.Offset);
            layout = holder != 0 && _runtime.Heap.GetObjectType(holder) is { } smType ? LayoutOf(smType, IntPtr.Size) : null;
        }
        if (layout is null)
        {
            return;
        }

        var node = new Node(box.Address)
        {
            StateMachineType = layout.StateMachineType,
            State = _memory.ReadInt32(holder + (ulong)layout.StateOffset),
            AwaitedAddress = ActiveAwaiter(holder, layout),
            ContinuationAddress = sm.Continuation < 0 ? 0 : _memory.ReadPointer(box.Address + (ulong)sm.Continuation),
            MayHaveSourceState = !sm.IsValueType || sm.Continuation < 0,
        };
        // A pooled box waiting in its pool has a default state machine and awaits nothing.
        if (KindOf(boxType) == TypeKind.PoolingBox && node.AwaitedAddress == 0)
        {
            return;
        }
        _nodes[box.Address] = node;
        _boxes.Add(node);
    }

    /// <summary>
    /// What the suspended state machine awaits: the one awaiter field that is set (the runtime clears an
    /// awaiter field when it resumes from it). Its task, or the object behind its ValueTask.
    /// </summary>
    private ulong ActiveAwaiter(ulong holder, Layout layout)
    {
        foreach (int offset in layout.TaskOffsets)
        {
            if (_memory.ReadPointer(holder + (ulong)offset) is not 0 and var task)
            {
                return task;
            }
        }
        foreach (int offset in layout.ValueTaskObjectOffsets)
        {
            if (_memory.ReadPointer(holder + (ulong)offset) is not 0 and var source)
            {
                return source;
            }
        }
        return 0;
    }

    private void ResolveParents(Node node)
    {
        // Fast path: the common continuation is the awaiting box itself (read during the scan).
        if (node.ContinuationAddress != 0)
        {
            if (_nodes.TryGetValue(node.ContinuationAddress, out Node? awaiting))
            {
                node.AddParent(awaiting);
                return;
            }
            Resolve(node, _runtime.Heap.GetObject(node.ContinuationAddress), 0);
        }
        if (node.ParentCount > 0 || node.BlockedOn || !node.MayHaveSourceState)
        {
            return;
        }
        ClrObject obj = _runtime.Heap.GetObject(node.Address);
        // IValueTaskSource continuation state: a pooling box's core, or an async iterator's promise.
        if (obj.Type?.GetFieldByName("_valueTaskSource") is not null)
        {
            Resolve(node, obj.ReadValueTypeField("_valueTaskSource").ReadObjectField("_continuationState"), 0);
        }
        else if (obj.Type?.GetFieldByName("StateMachine") is { IsValueType: false } &&
                 obj.ReadObjectField("StateMachine") is { IsNull: false } sm && sm.Type?.GetFieldByName("<>v__promiseOfValueOrEnd") is not null)
        {
            Resolve(node, sm.ReadValueTypeField("<>v__promiseOfValueOrEnd").ReadObjectField("_continuationState"), 0);
        }
    }

    /// <summary>Follows a continuation through the runtime's wrappers to the box (or promise) it resumes.</summary>
    private void Resolve(Node node, ClrObject continuation, int depth)
    {
        if (continuation.IsNull || continuation.Type?.Name is not { } name || depth > 16)
        {
            return;
        }
        if (_nodes.TryGetValue(continuation.Address, out Node? awaiting))
        {
            node.AddParent(awaiting);
        }
        else if (name.StartsWith("System.Collections.Generic.List<", StringComparison.Ordinal))
        {
            ClrObject items = continuation.ReadObjectField("_items");
            int size = continuation.ReadField<int>("_size");
            if (!items.IsNull && items.IsArray)
            {
                ClrArray array = items.AsArray();
                for (int i = 0; i < Math.Min(size, array.Length); i++)
                {
                    Resolve(node, array.GetObjectValue(i), depth + 1);
                }
            }
        }
        else if (continuation.IsDelegate)
        {
            Resolve(node, continuation.ReadObjectField("_target"), depth + 1);
        }
        else if (name == "System.Runtime.CompilerServices.AsyncMethodBuilderCore+ContinuationWrapper")
        {
            Resolve(node, continuation.ReadObjectField("_continuation"), depth + 1);
        }
        else if (name.EndsWith("AwaitTaskContinuation", StringComparison.Ordinal))
        {
            Resolve(node, continuation.ReadObjectField("m_action"), depth + 1);
        }
        else if (name == "System.Threading.Tasks.Task+SetOnInvokeMres")
        {
            node.BlockedOn = true;
        }
        else if (name == "System.Threading.Tasks.ContinueWithTaskContinuation")
        {
            Resolve(node, continuation.ReadObjectField("m_task"), depth + 1);
        }
        else if (continuation.Type.GetFieldByName("m_continuationObject") is not null)
        {
            // A promise between tasks (WhenAll, WhenAny, Unwrap, ContinueWith): a node of its own.
            var promise = new Node(continuation.Address) { PromiseName = PromiseName(name) };
            _nodes[continuation.Address] = promise;
            node.AddParent(promise);
            Resolve(promise, continuation.ReadObjectField("m_continuationObject"), depth + 1);
        }
    }

    private static string PromiseName(string typeName) =>
        typeName.StartsWith("System.Threading.Tasks.Task+WhenAllPromise", StringComparison.Ordinal) ? "Task.WhenAll"
        : typeName.StartsWith("System.Threading.Tasks.Task+TwoTaskWhenAnyPromise", StringComparison.Ordinal) ||
          typeName.StartsWith("System.Threading.Tasks.TaskFactory+CompleteOnInvokePromise", StringComparison.Ordinal) ? "Task.WhenAny"
        : typeName.StartsWith("System.Threading.Tasks.UnwrapPromise", StringComparison.Ordinal) ? "Unwrap (Task.Run of an async delegate)"
        : typeName.StartsWith("System.Threading.Tasks.Continuation", StringComparison.Ordinal) ? "ContinueWith"
        : "continuation " + typeName;

    // ---------------------------------------------------------------- stacks

    private StackForest BuildForest()
    {
        var groups = new Dictionary<(long, int), (Node Root, int Count)>();
        var order = new List<(long, int)>();
        int unique = 0;
        foreach (Node node in _nodes.Values)
        {
            if (node.ParentCount > 0 || node.PromiseName is not null && node.ChildCount == 0)
            {
                continue;
            }
            (long, int) key = Fingerprint(node, ref unique);
            if (groups.TryGetValue(key, out var group))
            {
                groups[key] = (group.Root, group.Count + 1);
            }
            else
            {
                groups[key] = (node, 1);
                order.Add(key);
            }
        }
        // One stack per group: names, lines and leaves are read for representatives only.
        var result = order.Select(k => new StackGroup(StackFrom(groups[k].Root, new HashSet<ulong>(), groups[k].Root.BlockedOn), groups[k].Count)).ToList();
        result.Sort((a, b) => b.Count.CompareTo(a.Count));
        return new StackForest(result, _nodes.Count, fromTracking: false, Array.Empty<StackError>());
    }

    /// <summary>
    /// The shape of a root's chain: state machine types and states, hashed, with its length (the same
    /// methods suspended at the same awaits; what the innermost await waits on is shown for the group's
    /// first root). Branching chains (several nodes awaited at one step) are never grouped.
    /// </summary>
    private (long Hash, int Length) Fingerprint(Node root, ref int unique)
    {
        long hash = root.BlockedOn ? 1 : 17;
        int length = 0;
        for (Node? n = root; n is not null && length < _options.MaxDepth; length++)
        {
            hash = unchecked(hash * 31 + (long)(n.StateMachineType?.MethodTable ?? (ulong)(n.PromiseName?.GetHashCode() ?? 0)));
            hash = unchecked(hash * 31 + n.State);
            if (n.ChildCount > 1)
            {
                return (hash, -(++unique));
            }
            n = n.FirstChild;
        }
        return (hash, length);
    }

    /// <summary>The stack from <paramref name="node"/> down: through the single node awaited at each step, branching where several are.</summary>
    private LogicalStack StackFrom(Node node, HashSet<ulong> visited, bool blockedThread)
    {
        var frames = new List<LogicalFrame>();
        if (blockedThread)
        {
            frames.Add(Extraction.Walker.BlockingWaitFrame);
        }
        StackLeaf? leaf = null;
        IReadOnlyList<LogicalStack>? children = null;
        var errors = new List<StackError>();
        Node? current = node;
        while (current is not null)
        {
            if (!visited.Add(current.Address))
            {
                errors.Add(new StackError("cycle: an operation awaits itself through its callees (a deadlock)"));
                break;
            }
            if (frames.Count >= _options.MaxDepth)
            {
                errors.Add(new StackError($"depth limit of {_options.MaxDepth} frames reached"));
                break;
            }
            frames.Add(FrameOf(current));
            if (current.ChildCount == 1)
            {
                current = current.FirstChild ?? current.ExtraChildren[0];
                continue;
            }
            if (current.ChildCount > 1)
            {
                children = current.Children().Select(child => StackFrom(child, new HashSet<ulong>(visited), blockedThread: false)).ToArray();
                leaf = new StackLeaf(LeafKind.Combinator, $"{current.ChildCount} pending", null);
            }
            else
            {
                leaf = current.PromiseName is null && current.AwaitedAddress != 0 ? LeafOf(_runtime.Heap.GetObject(current.AwaitedAddress)) : null;
            }
            break;
        }
        return new LogicalStack(frames, leaf, null, errors.Count == 0 ? null : errors, errors.Count > 0, children);
    }

    private LogicalFrame FrameOf(Node node)
    {
        if (node.PromiseName is not null)
        {
            return new LogicalFrame(FrameKind.Combinator, node.PromiseName, null, FrameState.Suspended, null, null);
        }
        ClrType? type = node.StateMachineType;
        TargetStateMachine? sm = type?.Module?.Name is { } module ? _symbols.StateMachine(module, type.MetadataToken) : null;
        string name = sm?.DisplayName ?? type?.Name ?? "(unknown state machine)";
        FrameKind kind = sm?.Kind ?? FrameKind.Async;
        if (sm is not null && sm.Awaits.TryGetValue(node.State, out var point))
        {
            return new LogicalFrame(kind, name, null, FrameState.Suspended, point.Number, point.Location,
                declaringTypeName: sm.DeclaringTypeName, methodName: sm.MethodName);
        }
        FrameState state = node.State switch { -1 => FrameState.Running, -2 => FrameState.Completed, >= 0 => FrameState.Suspended, _ => FrameState.Unknown };
        return new LogicalFrame(kind, name, null, state, node.State >= 0 ? node.State + 1 : null, null,
            declaringTypeName: sm?.DeclaringTypeName, methodName: sm?.MethodName);
    }

    private static StackLeaf? LeafOf(ClrObject awaited)
    {
        if (awaited.IsNull || awaited.Type?.Name is not { } name)
        {
            return null;
        }
        if (name == "System.Threading.Tasks.Task" || name.StartsWith("System.Threading.Tasks.Task<", StringComparison.Ordinal))
        {
            bool promise = awaited.ReadObjectField("m_action").IsNull;
            string generic = name.Length > "System.Threading.Tasks.Task".Length ? name["System.Threading.Tasks.Task".Length..] : string.Empty;
            return promise
                ? new StackLeaf(LeafKind.TaskCompletionSource, "TaskCompletionSource" + Keywords(generic) + ".Task", name)
                : new StackLeaf(LeafKind.DelegateTask, "task running a delegate (Task.Run)", name);
        }
        return name switch
        {
            "System.Threading.Tasks.Task+DelayPromise" or "System.Threading.Tasks.Task+DelayPromiseWithCancellation" => new StackLeaf(LeafKind.Delay, "Task.Delay", name),
            "System.Threading.SemaphoreSlim+TaskNode" => new StackLeaf(LeafKind.SemaphoreWait, "SemaphoreSlim.WaitAsync", name),
            _ when name.StartsWith("System.Threading.Channels.", StringComparison.Ordinal) && name.Contains("AsyncOperation", StringComparison.Ordinal) =>
                new StackLeaf(LeafKind.Channel, name.Contains("Write", StringComparison.Ordinal) ? "channel write waiting for room" : "channel read waiting for an item", name),
            _ when IsValueTaskSource(awaited.Type) =>
                new StackLeaf(LeafKind.ValueTaskSource, "IValueTaskSource " + name[(name.LastIndexOf('.') + 1)..], name),
            _ => new StackLeaf(LeafKind.Unknown, "awaiting " + name, name),
        };
    }

    /// <summary>
    /// Whether a type implements IValueTaskSource, judged by shape: ClrMD does not reliably name a type's
    /// interfaces, but an IValueTaskSource has GetStatus, OnCompleted and GetResult, or keeps a
    /// ManualResetValueTaskSourceCore.
    /// </summary>
    private static bool IsValueTaskSource(ClrType type)
    {
        var names = new HashSet<string>(type.Methods.Select(m => m.Name).OfType<string>(), StringComparer.Ordinal);
        return names.Contains("GetStatus") && names.Contains("OnCompleted") && names.Contains("GetResult") ||
               type.Fields.Any(f => f.Type?.Name?.StartsWith("System.Threading.Tasks.Sources.ManualResetValueTaskSourceCore<", StringComparison.Ordinal) == true);
    }

    private static string Keywords(string genericSuffix) => genericSuffix
        .Replace("System.Boolean", "bool").Replace("System.Int32", "int").Replace("System.Int64", "long")
        .Replace("System.String", "string").Replace("System.Object", "object").Replace("System.Threading.Tasks.VoidTaskResult", "void");

    // ---------------------------------------------------------------- threads

    private ThreadStack ReadThread(ClrThread thread)
    {
        // Stack roots are the costliest per-thread read; only a thread resuming an async method or
        // blocked on a task needs them (to find the box it runs or the task it waits on).
        // With IncludeFrameStrings they are read for every thread, in the same walk.
        List<Node>? rootNodes = null;
        List<FrameString>? strings = null;
        List<Node> Roots()
        {
            if (rootNodes is null)
            {
                rootNodes = new List<Node>();
                try
                {
                    foreach (ClrStackRoot root in thread.EnumerateStackRoots())
                    {
                        if (_nodes.TryGetValue(root.Object.Address, out Node? node))
                        {
                            rootNodes.Add(node);
                        }
                        else if (_options.IncludeFrameStrings && root.Object.Type?.IsString == true && root.StackFrame?.Method is { } held)
                        {
                            (strings ??= new()).Add(new FrameString($"{held.Type?.Name}.{held.Name}", StringText(root.Object)));
                        }
                    }
                }
                catch (Exception e)
                {
                    _errors.Add(new StackError($"reading the stack roots of thread {thread.ManagedThreadId} failed: {e.Message}", e.GetType().FullName));
                }
            }
            return rootNodes;
        }

        var innerFirst = new List<LogicalFrame>();
        Node? junction = null, blockedOn = null;
        ClrStackFrame[] frames = thread.EnumerateStackTrace(includeContext: false).Take(_options.MaxDepth).ToArray();
        for (int i = 0; i < frames.Length; i++)
        {
            if (frames[i].Kind != ClrStackFrameKind.ManagedMethod || frames[i].Method is not { } method)
            {
                continue;
            }
            string typeName = method.Type?.Name ?? string.Empty;
            string? module = method.Type?.Module?.Name;
            int il = method.GetILOffset(frames[i].InstructionPointer);
            SourceLocation? location = module is null ? null : TargetSymbols.Locate(module, method.MetadataToken, il);

            if (IsBuilderStart(typeName, method.Name))
            {
                continue;
            }
            if (IsWaitInternals(typeName, method.Name))
            {
                // Runtime frames of a blocking wait: find the task it waits on among the roots of these frames.
                blockedOn ??= Roots().FirstOrDefault(n => n.BlockedOn);
                if (typeName != "System.Threading.Tasks.Task" || method.Name != "Wait")
                {
                    continue;
                }
            }

            if (method.Name == "MoveNext" && method.Type is { } smType && module is not null &&
                _symbols.StateMachine(module, smType.MetadataToken) is { } sm)
            {
                bool resumed = IsResumedByMachinery(frames, i);
                innerFirst.Add(new LogicalFrame(sm.Kind, sm.DisplayName, null, FrameState.Running, null, location,
                    resumed ? FrameFlags.AsyncJunction : FrameFlags.None, declaringTypeName: sm.DeclaringTypeName, methodName: sm.MethodName));
                if (resumed)
                {
                    junction = Roots().FirstOrDefault(n => n.StateMachineType?.MetadataToken == smType.MetadataToken &&
                        n.StateMachineType.Module?.Name == module);
                    break;
                }
                i = SkipKickoffStub(frames, i);
                continue;
            }

            TargetMethod? named = module is null || method.Type is null ? null : _symbols.Method(module, method.Type.MetadataToken, method.MetadataToken);
            string name = named?.DisplayName ?? $"{typeName}.{method.Name}";
            if (innerFirst.Count > 0 && innerFirst[^1].DisplayName == name && innerFirst[^1].Location is null)
            {
                continue; // an overload forwarding to another of the same name (Task.Wait() -> Task.Wait(int, CancellationToken))
            }
            innerFirst.Add(new LogicalFrame(FrameKind.Sync, name, null, FrameState.Running, null, location,
                declaringTypeName: named?.DeclaringTypeName ?? typeName, methodName: named?.MethodName ?? method.Name));
        }

        innerFirst.Reverse();
        var all = new List<LogicalFrame>();
        if (junction is not null)
        {
            var up = new List<LogicalFrame>();
            var seen = new HashSet<ulong> { junction.Address };
            for (Node? n = junction; n is { ParentCount: 1, FirstParent: { } parent } && seen.Add(parent.Address); n = parent)
            {
                up.Add(FrameOf(parent));
            }
            up.Reverse();
            all.AddRange(up);
        }
        all.AddRange(innerFirst);
        StackLeaf? leaf = null;
        IReadOnlyList<LogicalStack>? children = null;
        if (blockedOn is not null)
        {
            LogicalStack task = StackFrom(blockedOn, new HashSet<ulong>(), blockedThread: true);
            all.AddRange(task.Frames);
            leaf = task.Leaf;
            children = task.Children;
        }
        string? threadName = _threadNames.GetValueOrDefault(thread.ManagedThreadId);
        if (_options.IncludeFrameStrings)
        {
            Roots();
        }
        return new ThreadStack(thread.ManagedThreadId, thread.OSThreadId, threadName, DescribeState(thread.State),
            new LogicalStack(all, leaf, null, null, false, children)) { FrameStrings = strings ?? (IReadOnlyList<FrameString>)Array.Empty<FrameString>() };
    }

    /// <summary>A string root's text, cut at <see cref="FrameString.MaxLength"/> characters (a stack can hold a huge one).</summary>
    private static string StringText(ClrObject text)
    {
        string? value = text.AsString(FrameString.MaxLength + 1);
        return value is null ? string.Empty : value.Length > FrameString.MaxLength ? value[..FrameString.MaxLength] + "…" : value;
    }

    private static string DescribeState(ClrThreadState state)
    {
        var names = new List<string>();
        foreach (ClrThreadState flag in Enum.GetValues<ClrThreadState>())
        {
            if (flag != 0 && (state & flag) == flag)
            {
                names.Add(flag.ToString().Replace("TS_", string.Empty, StringComparison.Ordinal));
            }
        }
        return names.Count == 0 ? "Running" : string.Join(", ", names);
    }

    private static bool IsBuilderStart(string typeName, string? method) =>
        method == "Start" && typeName.StartsWith("System.Runtime.CompilerServices.", StringComparison.Ordinal) &&
        (typeName.Contains("Async", StringComparison.Ordinal));

    private static bool IsWaitInternals(string typeName, string? method) =>
        (typeName == "System.Threading.Tasks.Task" && method is "Wait" or "InternalWait" or "InternalWaitCore" or "SpinThenBlockingWait" or "SpinWait"
            or "GetResultCore") ||
        (typeName == "System.Threading.ManualResetEventSlim" && method == "Wait") ||
        (typeName == "System.Threading.Monitor" && method is "Wait" or "ObjWait");

    private static int SkipKickoffStub(ClrStackFrame[] frames, int i)
    {
        // MoveNext <- AsyncMethodBuilderCore.Start <- builder.Start <- the kickoff method: show the method once.
        int j = i + 1;
        while (j < frames.Length && frames[j].Method is { } m && IsBuilderStart(m.Type?.Name ?? string.Empty, m.Name))
        {
            j++;
        }
        return j > i + 1 && j < frames.Length ? j : i;
    }

    private static bool IsResumedByMachinery(ClrStackFrame[] frames, int i)
    {
        for (int j = i + 1; j < frames.Length; j++)
        {
            if (frames[j].Kind != ClrStackFrameKind.ManagedMethod || frames[j].Method is not { } outer)
            {
                continue;
            }
            string typeName = outer.Type?.Name ?? string.Empty;
            if (IsBuilderStart(typeName, outer.Name))
            {
                return false;
            }
            return typeName.StartsWith("System.Runtime.CompilerServices.", StringComparison.Ordinal) ||
                   typeName.StartsWith("System.Threading.ExecutionContext", StringComparison.Ordinal) ||
                   typeName.StartsWith("System.Threading.Tasks.", StringComparison.Ordinal);
        }
        return false;
    }
}
