using Microsoft.Diagnostics.Runtime;
using Stackscope.Reading;
using Stackscope.Runtime;
using Stackscope.Threads;

namespace Stackscope.Diagnostics.Clr;

/// <summary>
/// Reads a <see cref="ProcessSnapshot"/> from a ClrMD runtime: the async operations on the heap (state
/// machine boxes linked through their continuations, including IValueTaskSource continuation state), and
/// every managed thread, joined to the async graph where a thread resumes an async method (the box is a
/// root of the resuming frame) or blocks on a task (the task is a root of its Wait frame).
/// </summary>
/// <remarks>
/// What a frame is (its method, awaits and lines, which awaiter an await uses, the resources live at it) comes from the
/// <see cref="StateMachineDescription"/> in-process extraction uses, built from the target's metadata; what a leaf, a
/// resource or a combinator says comes from Core's <see cref="RuntimeRules"/> and <see cref="LeafRules"/> read through
/// <see cref="ClrObjects"/>. This class only finds the objects: the heap scan and the links between them.
/// </remarks>
internal sealed class SnapshotReader
{
    private const int ProgressEvery = 1 << 16;

    private readonly ClrRuntime _runtime;
    private readonly TargetSymbols _symbols;
    private readonly ClrObjects _objects;
    private readonly InspectOptions _options;
    private readonly CancellationToken _cancellation;
    private readonly List<StackError> _errors = new();
    private readonly Dictionary<ulong, Node> _nodes = new();
    private readonly Dictionary<ulong, Node> _byHolder = new();
    private readonly List<Node> _boxes = new();
    private readonly Dictionary<int, string?> _threadNames = new();
    private readonly Dictionary<ulong, TypeKind> _kinds = new();
    private readonly Dictionary<ulong, Layout?> _classLayouts = new();
    private readonly WindowReader _memory;

    private enum TypeKind { Other, Box, PoolingBox, Thread }

    /// <summary>An async operation on the heap: a state machine box, or a promise task between boxes (WhenAll, ...).</summary>
    /// <remarks>Links are inline fields, not lists: a heap holds 100,000s of nodes, nearly all with one parent and one child.</remarks>
    private sealed class Node(ulong address)
    {
        public ulong Address { get; } = address;

        /// <summary>For a box: where its state machine's fields are read from (the box, or the state machine class it references).</summary>
        public ulong Holder { get; init; }

        /// <summary>For a box: its state machine's layout and description; null for a promise.</summary>
        public Layout? Layout { get; init; }

        public int State { get; init; }

        /// <summary>What the state machine awaits (a task, a ValueTask's object, an inner iterator), or 0.</summary>
        public ulong AwaitedAddress { get; init; }

        /// <summary>The awaiter slot read for <see cref="AwaitedAddress"/> (or the yield or inline custom awaiter), or -1.</summary>
        public int AwaiterSlot { get; init; } = -1;

        public ulong ContinuationAddress { get; init; }

        /// <summary>For a promise: its type's definition name.</summary>
        public string? PromiseType { get; init; }

        public bool BlockedOn { get; set; }

        /// <summary>Whether callers can also be linked through IValueTaskSource state (pooling boxes, async iterators).</summary>
        public bool MayHaveSourceState { get; init; }

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
                (_extraParents ??= new List<Node>()).Add(parent);
            }
        }

        private List<Node>? _extraParents;

        /// <summary>The nodes awaiting this one, in the order their continuations were registered.</summary>
        public IEnumerable<Node> Parents()
        {
            if (FirstParent is not null)
            {
                yield return FirstParent;
            }
            if (_extraParents is not null)
            {
                foreach (Node p in _extraParents)
                {
                    yield return p;
                }
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

    /// <param name="runtime">The target's runtime.</param>
    /// <param name="symbols">The target's metadata.</param>
    /// <param name="options">What to read.</param>
    /// <param name="live">Whether the target is a live process on this machine (its clock is this machine's); false for a dump.</param>
    /// <param name="cancellation">Stops the read.</param>
    public SnapshotReader(ClrRuntime runtime, TargetSymbols symbols, InspectOptions options, bool live, CancellationToken cancellation)
    {
        _runtime = runtime;
        _symbols = symbols;
        _options = options;
        _cancellation = cancellation;
        _memory = new WindowReader(runtime.DataTarget.DataReader);
        _objects = new ClrObjects(symbols, live ? Environment.TickCount64 : null);
    }

    /// <summary>An awaiter field: how to read what it awaits (the kinds and field paths of <see cref="RuntimeTypeNames"/>).</summary>
    /// <param name="Kind">The awaiter's kind.</param>
    /// <param name="Offset">From the holder: the awaited pointer (Task, ValueTask), or the awaiter itself (custom).</param>
    /// <param name="Type">The awaiter field's type.</param>
    private sealed record Slot(AwaiterKind Kind, int Offset, ClrType? Type);

    /// <summary>
    /// Where a state machine's fields are, as offsets from its holder's address, and what its metadata says about it,
    /// computed once per type: the hot path reads raw memory instead of looking fields up by name for each of 100,000
    /// boxes. For a box holding a struct state machine the offsets reach into the box; for a state machine class they are
    /// relative to that object.
    /// </summary>
    private sealed record Layout(StateMachineDescription? Description, ClrType StateMachineType, int StateOffset, Slot[] Awaiters, int[] InnerIterators,
        Dictionary<string, (int Offset, ClrInstanceField Field)> Fields);

    /// <summary>The layout of a state machine type at <paramref name="baseOffset"/> in its holder; callers cache it (per box type, or per state machine class).</summary>
    private Layout? LayoutOf(ClrType smType, int baseOffset, string? exactName)
    {
        Layout? layout = null;
        layout = null;
        if (smType.GetFieldByName(RuntimeTypeNames.StateField) is { } state)
        {
            StateMachineDescription? description = smType.Module?.Name is { } module ? _symbols.StateMachine(module, smType.MetadataToken, exactName) : null;
            var fields = new Dictionary<string, (int, ClrInstanceField)>(StringComparer.Ordinal);
            foreach (ClrInstanceField f in smType.Fields)
            {
                if (f.Name is { } name)
                {
                    fields[name] = (baseOffset + f.Offset, f);
                }
            }
            // The awaiter fields in the description's order (its awaits index them); without a description, as declared.
            IEnumerable<string> awaiterNames = description?.AwaiterFields ??
                smType.Fields.Select(f => f.Name).OfType<string>().Where(n => n.StartsWith(RuntimeTypeNames.AwaiterFieldPrefix, StringComparison.Ordinal));
            var slots = new List<Slot>();
            foreach (string name in awaiterNames)
            {
                slots.Add(fields.TryGetValue(name, out var awaiter) ? SlotOf(awaiter.Item1, awaiter.Item2) : new Slot(AwaiterKind.Yield, -1, null));
            }
            int[] inner = (description?.InnerIteratorFields ?? []).Select(n => fields.TryGetValue(n, out var f) ? f.Item1 : -1).Where(o => o >= 0).ToArray();
            layout = new Layout(description, smType, baseOffset + state.Offset, slots.ToArray(), inner, fields);
        }
        return layout;
    }

    private static Slot SlotOf(int offset, ClrInstanceField field)
    {
        ClrType? type = field.Type;
        AwaiterKind kind = RuntimeTypeNames.AwaiterKindOf(ClrName.DefinitionOf(type?.Name));
        if (RuntimeTypeNames.AwaitedPath(kind) is { } path)
        {
            ClrType? current = type;
            int at = offset;
            foreach (string step in path)
            {
                if (current?.GetFieldByName(step) is not { } f)
                {
                    return new Slot(AwaiterKind.Custom, offset, type);
                }
                at += f.Offset;
                current = f.Type;
            }
            return new Slot(kind, at, type);
        }
        return new Slot(kind, offset, type);
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
                        _stateFlagsOffset = IntPtr.Size + (type.GetFieldByName(RuntimeTypeNames.StateFlagsField)?.Offset ?? 0);
                    }
                    if ((_memory.ReadInt32(obj.Address + (ulong)_stateFlagsOffset) & RuntimeTypeNames.CompletedMask) == 0)
                    {
                        AddBox(obj, pooling: false);
                    }
                    break;
                case TypeKind.PoolingBox:
                    AddBox(obj, pooling: true);
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

    private ulong _lastKindTable;
    private TypeKind _lastKind;

    private TypeKind KindOf(ClrType type)
    {
        if (type.MethodTable == _lastKindTable)
        {
            return _lastKind;
        }
        _lastKindTable = type.MethodTable;
        if (!_kinds.TryGetValue(type.MethodTable, out TypeKind kind))
        {
            string name = type.Name ?? string.Empty;
            // A cheap prefix test first: most of a heap's types are not the runtime's builders.
            string definition = name.StartsWith("System.", StringComparison.Ordinal) ? _objects.DefinitionName(type) : string.Empty;
            kind = definition == "System.Threading.Thread" ? TypeKind.Thread
                : RuntimeTypeNames.IsStateMachineBox(definition) ? TypeKind.Box
                : RuntimeTypeNames.IsPoolingBox(definition) ? TypeKind.PoolingBox
                : TypeKind.Other;
            _kinds[type.MethodTable] = kind;
        }
        return _lastKind = kind;
    }

    /// <summary>A box type's state machine field: its offset in the box, whether it is a struct, its type, the exact state machine name, and the continuation's offset.</summary>
    private readonly record struct BoxFields(int Offset, bool IsValueType, Layout? StructLayout, int Continuation);

    private readonly Dictionary<ulong, BoxFields> _boxFields = new();
    private ulong _lastBoxTable;
    private BoxFields _lastBoxFields;

    private void AddBox(ClrObject box, bool pooling)
    {
        ClrType boxType = box.Type!;
        BoxFields sm = _lastBoxFields;
        if (boxType.MethodTable != _lastBoxTable)
        {
            if (!_boxFields.TryGetValue(boxType.MethodTable, out sm))
            {
                ClrInstanceField? field = boxType.GetFieldByName(RuntimeTypeNames.BoxStateMachineField);
                int continuation = boxType.GetFieldByName(RuntimeTypeNames.ContinuationField) is { } c ? IntPtr.Size + c.Offset : -1;
                // The box's own name names the state machine exactly (its field's type names shared code's __Canon).
                string? exact = ClrName.Parse(boxType.Name)?.Arguments is { Count: > 0 } args ? args[^1].Text : null;
                sm = field is null ? new BoxFields(-1, false, null, -1)
                    : new BoxFields(IntPtr.Size + field.Offset, field.IsValueType,
                        field.IsValueType && field.Type is { } structType ? LayoutOf(structType, IntPtr.Size + field.Offset, exact) : null, continuation);
                _boxFields[boxType.MethodTable] = sm;
            }
            _lastBoxFields = sm;
            _lastBoxTable = boxType.MethodTable;
        }
        if (sm.Offset < 0)
        {
            return;
        }

        // Struct state machines live inside the box; classes (Debug builds, async iterators) are referenced.
        ulong holder = box.Address;
        Layout? layout;
        if (sm.IsValueType)
        {
            layout = sm.StructLayout;
        }
        else
        {
            holder = _memory.ReadPointer(box.Address + (ulong)sm.Offset);
            layout = holder != 0 && _runtime.Heap.GetObjectType(holder) is { } smType ? ClassLayout(smType) : null;
        }
        if (layout is null)
        {
            return;
        }

        int state = _memory.ReadInt32(holder + (ulong)layout.StateOffset);
        (ulong awaited, int slot) = ReadAwaited(holder, layout, state);
        // A pooled box waiting in its pool has a default state machine and awaits nothing.
        if (pooling && awaited == 0 && (slot < 0 || layout.Awaiters[slot].Kind is AwaiterKind.Task or AwaiterKind.ValueTask))
        {
            return;
        }
        var node = new Node(box.Address)
        {
            Holder = holder,
            Layout = layout,
            State = state,
            AwaitedAddress = awaited,
            AwaiterSlot = slot,
            ContinuationAddress = sm.Continuation < 0 ? 0 : _memory.ReadPointer(box.Address + (ulong)sm.Continuation),
            MayHaveSourceState = !sm.IsValueType || sm.Continuation < 0,
        };
        _nodes[box.Address] = node;
        if (!sm.IsValueType)
        {
            _byHolder[holder] = node;
        }
        _boxes.Add(node);
    }

    /// <summary>A state machine class's layout (async iterators, Debug builds): its object's type is exact, so it is cached per type.</summary>
    private Layout? ClassLayout(ClrType smType)
    {
        if (!_classLayouts.TryGetValue(smType.MethodTable, out Layout? layout))
        {
            _classLayouts[smType.MethodTable] = layout = LayoutOf(smType, IntPtr.Size, smType.Name);
        }
        return layout;
    }

    /// <summary>
    /// The node of a state machine object: its box's when it has one, else one made for it now (an iterator suspended at a
    /// <c>yield return</c> never awaited anything, so no box holds it; it is read as in process, from the object itself).
    /// </summary>
    private Node? MachineAt(ClrObject obj)
    {
        if (_objects.IsNull(obj))
        {
            return null;
        }
        if (_byHolder.TryGetValue(obj.Address, out Node? node) || _nodes.TryGetValue(obj.Address, out node))
        {
            return node;
        }
        if (obj.Type is not { IsValueType: false } type || ClassLayout(type) is not { Description: not null } layout)
        {
            return null;
        }
        int state = _memory.ReadInt32(obj.Address + (ulong)layout.StateOffset);
        (ulong awaited, int slot) = ReadAwaited(obj.Address, layout, state);
        return new Node(obj.Address) { Holder = obj.Address, Layout = layout, State = state, AwaitedAddress = awaited, AwaiterSlot = slot };
    }

    /// <summary>
    /// What a suspended state machine awaits, by the same rule as in process: the awaiter field the IL scan tied to the
    /// await its state number names, and only that one; at a yield, the enumerator of a <c>foreach</c> it runs. Only a
    /// state with no await the scan found falls back to any awaiter field that is set (the one guess, as in process).
    /// </summary>
    private (ulong Awaited, int Slot) ReadAwaited(ulong holder, Layout layout, int state)
    {
        SuspensionPoint? point = layout.Description?.PointFor(state);
        if (point is { IsYield: true })
        {
            foreach (int offset in layout.InnerIterators)
            {
                if (_memory.ReadPointer(holder + (ulong)offset) is not 0 and var inner)
                {
                    return (inner, -1);
                }
            }
            return (0, -1);
        }
        if (point is not null && (uint)point.AwaiterIndex < (uint)layout.Awaiters.Length)
        {
            Slot exact = layout.Awaiters[point.AwaiterIndex];
            return exact.Kind switch
            {
                AwaiterKind.Task or AwaiterKind.ValueTask => (_memory.ReadPointer(holder + (ulong)exact.Offset), point.AwaiterIndex),
                AwaiterKind.Custom when exact.Type is { IsValueType: false } => (_memory.ReadPointer(holder + (ulong)exact.Offset), point.AwaiterIndex),
                _ => (0, point.AwaiterIndex),
            };
        }
        if (point is null && layout.Description?.StateWithoutPoint(state) is not (null or FrameState.Unknown))
        {
            return (0, -1); // running, completed or not started: nothing awaited
        }
        for (int i = 0; i < layout.Awaiters.Length; i++)
        {
            Slot slot = layout.Awaiters[i];
            if (slot.Kind is AwaiterKind.Task or AwaiterKind.ValueTask && _memory.ReadPointer(holder + (ulong)slot.Offset) is not 0 and var awaited)
            {
                return (awaited, i);
            }
        }
        return (0, -1);
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
        else if (obj.Type?.GetFieldByName(RuntimeTypeNames.BoxStateMachineField) is { IsValueType: false } &&
                 obj.ReadObjectField(RuntimeTypeNames.BoxStateMachineField) is { IsNull: false } sm && sm.Type?.GetFieldByName("<>v__promiseOfValueOrEnd") is not null)
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
        if (_nodes.TryGetValue(continuation.Address, out Node? awaiting) || _byHolder.TryGetValue(continuation.Address, out awaiting))
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
        else if (continuation.Type.GetFieldByName(RuntimeTypeNames.ContinuationField) is not null)
        {
            // A promise between tasks (WhenAll, WhenAny, Unwrap, ContinueWith, WaitAsync): a node of its own.
            var promise = new Node(continuation.Address) { PromiseType = _objects.DefinitionName(continuation.Type) };
            _nodes[continuation.Address] = promise;
            node.AddParent(promise);
            Resolve(promise, continuation.ReadObjectField(RuntimeTypeNames.ContinuationField), depth + 1);
        }
    }

    // ---------------------------------------------------------------- stacks

    private StackForest BuildForest()
    {
        var groups = new Forest.RootGroups<(long, int), Node>();
        int unique = 0;
        foreach (Node node in _nodes.Values)
        {
            if (node.ParentCount > 0 || node.PromiseType is not null && node.ChildCount == 0)
            {
                continue;
            }
            groups.Add(Fingerprint(node, ref unique), node);
        }
        // One stack per group: names, lines, resources and leaves are read for representatives only.
        List<StackGroup> result = groups.Build(root => StackFrom(root, new HashSet<ulong>(), root.BlockedOn));
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
            hash = unchecked(hash * 31 + (n.Layout is { } layout ? System.Runtime.CompilerServices.RuntimeHelpers.GetHashCode(layout) : n.PromiseType?.GetHashCode() ?? 0));
            hash = unchecked(hash * 31 + n.State);
            if (n.ChildCount > 1 || n.PromiseType is not null)
            {
                return (hash, -(++unique)); // a branch, or a combinator whose description is its own
            }
            n = n.FirstChild;
        }
        return (hash, length);
    }

    /// <summary>
    /// The stack from <paramref name="node"/> down, through what each frame awaits, by the rules of in-process extraction:
    /// a combinator with one pending child is a frame, with several a branch; the innermost await's object is the leaf.
    /// </summary>
    private LogicalStack StackFrom(Node node, HashSet<ulong> visited, bool blockedThread)
    {
        var frames = new List<LogicalFrame>();
        if (blockedThread)
        {
            frames.Add(Extraction.Walker.BlockingWaitFrame);
        }
        var errors = new List<StackError>();
        StackLeaf? leaf = null;
        IReadOnlyList<LogicalStack>? children = null;
        Node? current = node;
        ClrObject pending = default; // what the walk continues with when it is not a node
        Node? lastFrame = null;
        while (true)
        {
            if (frames.Count >= _options.MaxDepth)
            {
                errors.Add(new StackError($"depth limit of {_options.MaxDepth} frames reached"));
                break;
            }
            if (current is null)
            {
                if (pending.IsNull)
                {
                    break;
                }
                if ((current = MachineAt(pending)) is not null)
                {
                    continue;
                }
                if (!visited.Add(pending.Address))
                {
                    errors.Add(new StackError("cycle: an operation awaits itself through its callees (a deadlock)"));
                    break;
                }
                // A task standing for an IValueTaskSource: what it waits for is the source.
                if (_objects.DefinitionName(pending) is "System.Threading.Tasks.ValueTask+ValueTaskSourceAsTask" or "System.Threading.Tasks.ValueTask`1+ValueTaskSourceAsTask")
                {
                    pending = _objects.Object(pending, "_source");
                    continue;
                }
                if (LeafRules.Unwrap(_objects, pending) is { } unwrapped)
                {
                    if (!Continue(unwrapped.Description, unwrapped.Next, frames, ref current, ref pending, ref leaf, ref children, visited))
                    {
                        break;
                    }
                    continue;
                }
                leaf = LeafOf(pending, lastFrame);
                break;
            }

            if (!visited.Add(current.Address))
            {
                errors.Add(new StackError("cycle: an operation awaits itself through its callees (a deadlock)"));
                break;
            }
            if (current.PromiseType is not null)
            {
                ClrObject promise = _runtime.Heap.GetObject(current.Address);
                if (LeafRules.Unwrap(_objects, promise) is { } unwrapped)
                {
                    if (!Continue(unwrapped.Description, unwrapped.Next, frames, ref current, ref pending, ref leaf, ref children, visited))
                    {
                        break;
                    }
                    continue;
                }
                // Children the promise keeps no reference to, found through their continuations (as in process with tracking).
                ObjectKind kind = RuntimeTypeNames.TaskKind(current.PromiseType);
                string description = LeafRules.Recovered(kind, current.ChildCount, forEachAsync: false);
                if (current.ChildCount == 1 && kind == ObjectKind.Unwrap)
                {
                    frames.Add(Combinator(description));
                    current = current.FirstChild ?? current.ExtraChildren[0];
                    continue;
                }
                children = current.Children().Select(child => StackFrom(child, new HashSet<ulong>(visited), blockedThread: false)).ToArray();
                leaf = new StackLeaf(LeafKind.Combinator, description, current.PromiseType);
                break;
            }

            frames.Add(FrameOf(current, visited, readResources: true));
            lastFrame = current;
            if (current.AwaitedAddress != 0)
            {
                pending = _runtime.Heap.GetObject(current.AwaitedAddress);
                current = null;
                continue;
            }
            if (current.ChildCount > 0)
            {
                // Linked through an IValueTaskSource's continuation state, with no awaiter field read.
                current = current.FirstChild ?? current.ExtraChildren[0];
                continue;
            }
            leaf = SlotLeaf(current);
            break;
        }
        return new LogicalStack(frames, leaf, null, errors.Count == 0 ? null : errors, errors.Count > 0, children);
    }

    /// <summary>
    /// The operations awaiting <paramref name="node"/>, each as the chain of its callers (outermost first), by the rule of
    /// in-process extraction's walk up: one caller continues the chain; several are branches; a thread blocked on it is one.
    /// </summary>
    private List<LogicalStack> CallersOf(Node node, HashSet<ulong> visited)
    {
        var branches = new List<LogicalStack>();
        foreach (Node caller in node.Parents())
        {
            var chain = new List<LogicalFrame>();
            IReadOnlyList<LogicalStack>? nested = WalkUp(caller, chain, visited);
            chain.Reverse();
            branches.Add(new LogicalStack(chain, null, nested, null, false));
        }
        if (node.BlockedOn)
        {
            branches.Add(new LogicalStack([Extraction.Walker.BlockingWaitFrame], null, null, null, false));
        }
        return branches;
    }

    /// <summary>Appends <paramref name="start"/> and its callers, innermost first, while each has one; returns the branches where several await.</summary>
    private IReadOnlyList<LogicalStack>? WalkUp(Node start, List<LogicalFrame> up, HashSet<ulong> visited)
    {
        for (Node? n = start; n is not null && up.Count < _options.MaxDepth && visited.Add(n.Address);)
        {
            up.Add(n.PromiseType is not null ? Combinator(RuntimeTypeNames.PromiseName(n.PromiseType)) : FrameOf(n, visited, readResources: true));
            if (n.ParentCount + (n.BlockedOn ? 1 : 0) > 1)
            {
                return CallersOf(n, visited);
            }
            if (n.BlockedOn)
            {
                up.Add(Extraction.Walker.BlockingWaitFrame);
                return null;
            }
            n = n.FirstParent;
        }
        return null;
    }

    /// <summary>What a combinator unwrapped to: a frame and the one thing it waits for, a branch of several, or a leaf of none.</summary>
    private bool Continue(string description, List<ClrObject> next, List<LogicalFrame> frames, ref Node? current, ref ClrObject pending, ref StackLeaf? leaf,
        ref IReadOnlyList<LogicalStack>? children, HashSet<ulong> visited)
    {
        current = null;
        if (next.Count == 0)
        {
            leaf = new StackLeaf(LeafKind.Custom, description, null);
            return false;
        }
        if (next.Count == 1)
        {
            frames.Add(Combinator(description));
            pending = next[0];
            return true;
        }
        var branches = new List<LogicalStack>(next.Count);
        foreach (ClrObject child in next)
        {
            branches.Add(_nodes.TryGetValue(child.Address, out Node? node) ? StackFrom(node, new HashSet<ulong>(visited), blockedThread: false)
                : new LogicalStack([], LeafOf(child, null), null, null, false));
        }
        children = branches;
        leaf = new StackLeaf(LeafKind.Combinator, description, null);
        return false;
    }

    private static LogicalFrame Combinator(string name) => new(FrameKind.Combinator, name, null, FrameState.Suspended, null, null);

    /// <summary>The leaf of a frame that awaits no object: a yield return, Task.Yield, or a struct custom awaiter (named by its type).</summary>
    private StackLeaf? SlotLeaf(Node node)
    {
        Layout layout = node.Layout!;
        if (layout.Description?.PointFor(node.State) is { IsYield: true })
        {
            return new StackLeaf(LeafKind.IteratorYield, LeafRules.YieldReturn, null);
        }
        if ((uint)node.AwaiterSlot < (uint)layout.Awaiters.Length && layout.Awaiters[node.AwaiterSlot] is { } slot)
        {
            return slot.Kind switch
            {
                AwaiterKind.Yield => new StackLeaf(LeafKind.Yield, LeafRules.TaskYield, slot.Type?.Name),
                AwaiterKind.Custom => new StackLeaf(LeafKind.Unknown, "awaiting " + _symbols.FormatType(slot.Type?.Name, slot.Type?.Module?.Name), slot.Type?.Name),
                _ => null,
            };
        }
        return null;
    }

    /// <summary>What a pending object the stack ends at is, by Core's leaf rules.</summary>
    private StackLeaf? LeafOf(ClrObject awaited, Node? frame)
    {
        if (_objects.IsNull(awaited))
        {
            return null;
        }
        string definition = _objects.DefinitionName(awaited)!;
        ObjectKind kind = IsTask(awaited.Type!) ? RuntimeTypeNames.TaskKind(definition)
            : _symbols.IsValueTaskSource(awaited.Type!.Name, awaited.Type.Module?.Name) ? ObjectKind.ValueTaskSource
            : ObjectKind.Other;
        SuspensionPoint? point = frame?.Layout?.Description?.PointFor(frame.State);
        (LeafKind leafKind, string text) = LeafRules.Pending(_objects, awaited, kind, frame is null ? [] : Hoisted(frame), point?.AwaitedCall, DescribeDelegate, out _);
        return new StackLeaf(leafKind, text, awaited.Type!.Name);
    }

    private static bool IsTask(ClrType type)
    {
        for (ClrType? t = type; t is not null; t = t.BaseType)
        {
            if (t.Name == "System.Threading.Tasks.Task")
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>A delegate's method, named as in process (<c>Program.Main.AnonymousMethod(...)</c> style by <see cref="Symbols.MethodNames"/>).</summary>
    private string DescribeDelegate(ClrObject value)
    {
        if (_objects.IsNull(value) || !value.IsDelegate)
        {
            return "(no delegate)";
        }
        try
        {
            if (value.AsDelegate().GetDelegateTarget()?.Method is { Type: { } type } method && type.Module?.Name is { } module &&
                _symbols.Method(module, type.MetadataToken, method.MetadataToken) is { } named)
            {
                return named.DisplayName;
            }
        }
        catch (Exception)
        {
            // named by its type below
        }
        return _objects.FormatType(value);
    }

    /// <summary>A frame's hoisted reference fields with their values (not its awaiters or builder): where leaf rules look for its semaphore or channel.</summary>
    private IEnumerable<(string, ClrObject)> Hoisted(Node frame)
    {
        foreach (var (name, (offset, field)) in frame.Layout!.Fields)
        {
            if (field.IsObjectReference && !name.StartsWith(RuntimeTypeNames.AwaiterFieldPrefix, StringComparison.Ordinal) && name != RuntimeTypeNames.BuilderField)
            {
                yield return (name, _runtime.Heap.GetObject(_memory.ReadPointer(frame.Holder + (ulong)offset)));
            }
        }
    }

    private LogicalFrame FrameOf(Node node, HashSet<ulong>? visited = null, bool readResources = false)
    {
        Layout layout = node.Layout!;
        if (layout.Description is not { } description)
        {
            FrameState unknownState = node.State switch { -1 => FrameState.Running, -2 => FrameState.Completed, >= 0 => FrameState.Suspended, _ => FrameState.Unknown };
            return new LogicalFrame(FrameKind.Async, _objects.FormatType(_runtime.Heap.GetObject(node.Holder)), null, unknownState, null, null);
        }
        SuspensionPoint? point = description.PointFor(node.State);
        FrameState state = point is not null ? FrameState.Suspended : description.StateWithoutPoint(node.State);
        if (state == FrameState.Unknown && node.AwaitedAddress != 0)
        {
            state = FrameState.Suspended; // the one guess: an awaiter field was set
        }
        IReadOnlyList<HeldResource>? resources = readResources && point is { Resources.Length: > 0 } ? ReadResources(node, point, visited ?? new HashSet<ulong>()) : null;
        return description.Frame(state, point, resources: resources);
    }

    /// <summary>The resources a frame holds at its await, described by Core's rules; a resource that is suspended async code shows its stack.</summary>
    private List<HeldResource>? ReadResources(Node node, SuspensionPoint point, HashSet<ulong> visited)
    {
        List<HeldResource>? result = null;
        foreach (ResourceSlot slot in point.Resources)
        {
            if (!node.Layout!.Fields.TryGetValue(slot.Field, out var field))
            {
                continue;
            }
            try
            {
                string typeName;
                string? description = null;
                LogicalStack? inner = null;
                if (field.Field.IsObjectReference)
                {
                    ClrObject resource = _runtime.Heap.GetObject(_memory.ReadPointer(node.Holder + (ulong)field.Offset));
                    if (_objects.IsNull(resource))
                    {
                        continue; // not acquired yet on this path, or a null resource: nothing is held
                    }
                    description = RuntimeRules.Resource(_objects, resource, out _);
                    Node? machine = MachineAt(resource);
                    // An iterator's enumerator is named by the method it runs; suspended, it shows its stack unless the frame awaits it right now.
                    typeName = machine?.Layout?.Description?.DisplayName ?? _objects.FormatType(resource);
                    if (machine is not null && resource.Address != node.AwaitedAddress && !visited.Contains(machine.Address))
                    {
                        inner = StackFrom(machine, new HashSet<ulong>(visited), blockedThread: false);
                    }
                }
                else
                {
                    typeName = _symbols.FormatType(field.Field.Type?.Name, field.Field.Type?.Module?.Name);
                }
                (result ??= new()).Add(new HeldResource(slot.VariableName, typeName, slot.IsAsync, slot.Location, description, inner));
            }
            catch (Exception e)
            {
                _errors.Add(new StackError("reading resource " + slot.Field + ": " + e.Message, e.GetType().FullName));
            }
        }
        return result;
    }

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
            string typeName = method.Type is { } declaring ? _objects.DefinitionName(declaring) : string.Empty;
            string? module = method.Type?.Module?.Name;
            int il = method.GetILOffset(frames[i].InstructionPointer);
            SourceLocation? location = module is null ? null : TargetSymbols.Locate(module, method.MetadataToken, il);

            if (FrameFilters.IsBuilderStart(typeName, method.Name))
            {
                continue;
            }
            if (FrameFilters.IsWaitInternals(typeName, method.Name))
            {
                // Runtime frames of a blocking wait: find the task it waits on among the roots of these frames.
                blockedOn ??= Roots().FirstOrDefault(n => n.BlockedOn);
                if (typeName != "System.Threading.Tasks.Task" || method.Name != "Wait")
                {
                    continue;
                }
            }

            if (method.Name == "MoveNext" && method.Type is { } smType && module is not null &&
                _symbols.StateMachine(module, smType.MetadataToken, smType.Name) is { } sm)
            {
                bool resumed = FrameFilters.IsResumedByMachinery(sm.Kind, Outer(frames, i));
                innerFirst.Add(sm.Frame(FrameState.Running, null, resumed ? FrameFlags.AsyncJunction : FrameFlags.None, location: location));
                if (resumed)
                {
                    junction = Roots().FirstOrDefault(n => n.Layout?.StateMachineType is { } t && t.MetadataToken == smType.MetadataToken &&
                        t.Module?.Name == module);
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
                up.Add(FrameOf(parent, seen, readResources: true));
            }
            up.Reverse();
            all.AddRange(up);
        }
        all.AddRange(innerFirst);
        StackLeaf? leaf = null;
        IReadOnlyList<LogicalStack>? children = null;
        IReadOnlyList<LogicalStack>? awaitedBy = null;
        if (blockedOn is not null)
        {
            LogicalStack task = StackFrom(blockedOn, new HashSet<ulong>(), blockedThread: true);
            all.AddRange(task.Frames);
            leaf = task.Leaf;
            children = task.Children;
            // The task this thread waits for has other awaiters too: all of them, as in process (Extract of the task).
            if (blockedOn.ParentCount > 0)
            {
                awaitedBy = CallersOf(blockedOn, new HashSet<ulong> { blockedOn.Address });
            }
        }
        string? threadName = _threadNames.GetValueOrDefault(thread.ManagedThreadId);
        if (_options.IncludeFrameStrings)
        {
            Roots();
        }
        return new ThreadStack(thread.ManagedThreadId, thread.OSThreadId, threadName, DescribeState(thread.State),
            new LogicalStack(all, leaf, awaitedBy, null, false, children)) { FrameStrings = strings ?? (IReadOnlyList<FrameString>)Array.Empty<FrameString>() };
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

    private static int SkipKickoffStub(ClrStackFrame[] frames, int i)
    {
        // MoveNext <- AsyncMethodBuilderCore.Start <- builder.Start <- the kickoff method: show the method once.
        int j = i + 1;
        while (j < frames.Length && frames[j].Method is { } m && FrameFilters.IsBuilderStart(m.Type is { } t ? ClrName.DefinitionOf(t.Name) : null, m.Name))
        {
            j++;
        }
        return j > i + 1 && j < frames.Length ? j : i;
    }

    /// <summary>The managed frames outside frame <paramref name="i"/>, innermost first, by declaring type and name.</summary>
    private IEnumerable<(string?, string?)> Outer(ClrStackFrame[] frames, int i)
    {
        for (int j = i + 1; j < frames.Length; j++)
        {
            if (frames[j].Kind == ClrStackFrameKind.ManagedMethod && frames[j].Method is { Type: { } type } outer)
            {
                yield return (_objects.DefinitionName(type), outer.Name);
            }
        }
    }
}
