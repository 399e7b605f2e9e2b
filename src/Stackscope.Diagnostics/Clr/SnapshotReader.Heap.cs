using System.Runtime.CompilerServices;
using Microsoft.Diagnostics.Runtime;
using Stackscope.Reading;
using Stackscope.Runtime;

namespace Stackscope.Diagnostics.Clr;

/// <summary>The heap scan: the state machine boxes, their layouts, and the links between them through their continuations.</summary>
internal sealed partial class SnapshotReader
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ScanHeap()
    {
        Action<long>? progress = _options.Progress is { } report ? report.Report : null;
        var (_, broken) = HeapWalk.Walk(_runtime.Heap, _runtime.DataTarget.DataReader, new ScanVisitor(this), progress, _cancellation);
        if (broken > 0)
        {
            _errors.Add(new StackError($"the heap walk stopped early in {broken} segment(s): memory that could not be read, or an object that is not one (a heap changing under the read?)"));
        }

        // The walk found the boxes in address order: they are looked up by binary search, with no index to build.
        _boxCount = _nodeCount;
        for (int i = 0; i < _boxCount; i++)
        {
            ResolveParents(i);
        }
        _scanCount = _nodeCount;
    }

    /// <summary>The heap walk's visitor: boxes and threads, the only objects the scan reads.</summary>
    private sealed class ScanVisitor(SnapshotReader reader) : HeapWalk.IVisitor
    {
        /// <summary>What the scan knows of each method table it reads objects of, decided when the walk first meets it.</summary>
        private readonly Dictionary<ulong, ScannedType> _types = new();
        private ulong _lastTable;
        private ScannedType? _last;

        public bool Wants(ulong methodTable)
        {
            if (reader._runtime.Heap.GetTypeByMethodTable(methodTable) is not { } type || reader.KindOf(type) is not (not TypeKind.Other and var kind))
            {
                return false;
            }
            if (kind == TypeKind.Box && reader._stateFlagsOffset < 0)
            {
                // A field of Task: at the same offset in every box that is a task.
                reader._stateFlagsOffset = IntPtr.Size + (type.GetFieldByName(RuntimeTypeNames.StateFlagsField)?.Offset ?? 0);
            }
            _types[methodTable] = new ScannedType(kind, type);
            return true;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Visit(ulong address, ulong methodTable, ReadOnlySpan<byte> bytes)
        {
            if (methodTable != _lastTable)
            {
                _last = _types[methodTable];
                _lastTable = methodTable;
            }
            ScannedType scanned = _last!;
            switch (scanned.Kind)
            {
                case TypeKind.Thread:
                    reader.AddThreadName(scanned, bytes);
                    break;
                case TypeKind.Box:
                    if ((ReadInt32(bytes, reader._stateFlagsOffset) & RuntimeTypeNames.CompletedMask) == 0)
                    {
                        reader.AddBox(address, scanned, bytes, pooling: false);
                    }
                    break;
                case TypeKind.PoolingBox:
                    reader.AddBox(address, scanned, bytes, pooling: true);
                    break;
            }
        }
    }

    /// <summary>
    /// A method table the scan reads objects of: its kind and type, for a box type its state machine field (read when its
    /// first pending box is), for the thread type where its id and name are.
    /// </summary>
    private sealed class ScannedType(TypeKind kind, ClrType type)
    {
        public TypeKind Kind { get; } = kind;

        public ClrType Type { get; } = type;

        public BoxFields? Box { get; set; }

        public int[]? ThreadFields { get; set; }
    }

    /// <summary>The fields of a Thread object the scan reads: its id, its name, whether it has ended.</summary>
    private static readonly string[] ThreadFieldNames = [RuntimeTypeNames.ThreadIdField, RuntimeTypeNames.ThreadNameField, RuntimeTypeNames.ThreadDeadField];

    /// <summary>A live managed thread's name, by its managed thread id (what a thread stack is named by).</summary>
    /// <remarks>
    /// The walk meets every Thread object on the heap, garbage not yet swept too: a thread that ended and was finalized has
    /// given its id back to the runtime, which gives it to the next thread, so two objects can carry one id. Only a thread
    /// that has not ended names it (Thread._isDead, which the runtime sets when a thread ends; with no such field, the
    /// object met last names it).
    /// </remarks>
    private void AddThreadName(ScannedType scanned, ReadOnlySpan<byte> bytes)
    {
        int[] fields = scanned.ThreadFields ??= scanned.Type.Module?.Name is { } module
            ? _symbols.FieldOffsets(module, scanned.Type.MetadataToken, ThreadFieldNames, wanted => OffsetsOf(scanned.Type, wanted))
            : OffsetsOf(scanned.Type, ThreadFieldNames);
        if (fields[0] < 0 || fields[2] >= 0 && (uint)fields[2] < (uint)bytes.Length && bytes[fields[2]] != 0)
        {
            return;
        }
        ulong name = fields[1] >= 0 ? ReadPointer(bytes, fields[1]) : 0;
        _threadNames[ReadInt32(bytes, fields[0])] = name == 0 ? null : _runtime.Heap.GetObject(name).AsString();
    }

    /// <summary>Where the instance fields <paramref name="names"/> of <paramref name="type"/> are, from an object's start (-1 for a field it lacks).</summary>
    private static int[] OffsetsOf(ClrType type, string[] names) =>
        names.Select(name => type.GetFieldByName(name) is { } field ? IntPtr.Size + field.Offset : -1).ToArray();

    private static int ReadInt32(ReadOnlySpan<byte> bytes, int offset) =>
        (uint)offset <= (uint)(bytes.Length - sizeof(int)) ? System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(bytes[offset..]) : 0;

    private static ulong ReadPointer(ReadOnlySpan<byte> bytes, int offset) =>
        (uint)offset <= (uint)(bytes.Length - sizeof(ulong)) ? System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes[offset..]) : 0;

    private int _stateFlagsOffset = -1;
    private int _continuationOffset = -1;

    /// <summary>What the scan reads objects of this type as (asked once per method table).</summary>
    /// <remarks>
    /// Decided by the type's definition in its module's file, found by its metadata token: asking the runtime for the name
    /// of each of a heap's types costs a DAC call that formats every generic argument, a tenth of a read. Only the runtime's
    /// own types are read, so a type of another module's file, an array or a string is decided without any name.
    /// </remarks>
    private TypeKind KindOf(ClrType type)
    {
        if (type.IsArray || type.IsString || type.IsFree)
        {
            return TypeKind.Other;
        }
        string? definition = null;
        if (type.Module?.Name is { } module && Path.IsPathRooted(module))
        {
            if (!Path.GetFileName(module).Equals("System.Private.CoreLib.dll", StringComparison.OrdinalIgnoreCase))
            {
                return TypeKind.Other;
            }
            definition = Symbols.MetadataNames.ForFile(module)?.TypeDefinitionName(type.MetadataToken);
        }
        // A module with no file (a single-file bundle), or a token its file does not name: by the runtime's name.
        definition ??= _objects.DefinitionName(type);
        return definition == RuntimeTypeNames.Thread ? TypeKind.Thread
            : RuntimeTypeNames.IsStateMachineBox(definition) ? TypeKind.Box
            : RuntimeTypeNames.IsPoolingBox(definition) ? TypeKind.PoolingBox
            : TypeKind.Other;
    }

    /// <summary>A box type's state machine field: its offset in the box, whether it is a struct, and a struct's layout (computed once per box type).</summary>
    private readonly record struct BoxFields(int Offset, bool IsValueType, Layout? StructLayout);

    /// <summary>A box type's state machine field and its layout, read when the type's first pending box is.</summary>
    private BoxFields BoxFieldsOf(ClrType boxType)
    {
        ClrInstanceField? field = boxType.GetFieldByName(RuntimeTypeNames.BoxStateMachineField);
        int continuation = boxType.GetFieldByName(RuntimeTypeNames.ContinuationField) is { } c ? IntPtr.Size + c.Offset : -1;
        // A field of Task: at the same offset in every box that is a task.
        _continuationOffset = Math.Max(_continuationOffset, continuation);
        // The box's own name names the state machine exactly (its field's type names shared code's __Canon).
        string? exact = ClrName.Parse(boxType.Name)?.Arguments is { Count: > 0 } args ? args[^1].Text : null;
        return field is null ? new BoxFields(-1, false, null)
            : new BoxFields(IntPtr.Size + field.Offset, field.IsValueType,
                field.IsValueType && field.Type is { } structType ? LayoutOf(structType, IntPtr.Size + field.Offset, exact) : null);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddBox(ulong address, ScannedType scanned, ReadOnlySpan<byte> bytes, bool pooling)
    {
        BoxFields sm = scanned.Box ??= BoxFieldsOf(scanned.Type);
        if (sm.Offset < 0)
        {
            return;
        }

        // Struct state machines live inside the box; classes (Debug builds, async iterators) are referenced.
        ulong holder = address;
        Layout? layout;
        int state;
        if (sm.IsValueType)
        {
            layout = sm.StructLayout;
            state = layout is null ? 0 : ReadInt32(bytes, layout.StateOffset);
        }
        else
        {
            holder = ReadPointer(bytes, sm.Offset);
            layout = holder != 0 && _runtime.Heap.GetObjectType(holder) is { } smType ? ClassLayout(smType) : null;
            state = layout is null ? 0 : _memory.ReadInt32(holder + (ulong)layout.StateOffset);
        }
        if (layout is null)
        {
            return;
        }

        // A pooled box waiting in its pool has a default state machine and awaits nothing.
        if (pooling && ReadAwaited(holder, layout, state) is var (awaited, slot) && awaited == 0 &&
            (slot < 0 || layout.Awaiters[slot].Kind is AwaiterKind.Task or AwaiterKind.ValueTask))
        {
            return;
        }
        int node = AddNode(address, holder, layout, state, pooling ? NodeFlags.Pooling : NodeFlags.None, pooling || _continuationOffset < 0 ? 0 : ReadPointer(bytes, _continuationOffset));
        if (!sm.IsValueType)
        {
            _byHolder[holder] = node;
        }
    }

    /// <summary>What a node's state machine awaits, read when a stack is built (the scan does not need it: links come from continuations).</summary>
    private (ulong Address, int Slot) AwaitedOf(int node) => LayoutAt(node) is { } layout ? ReadAwaited(HolderOf(node), layout, N(node).State) : (0, -1);

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
    private int MachineAt(ClrObject obj)
    {
        if (_objects.IsNull(obj))
        {
            return None;
        }
        if (_byHolder.TryGetValue(obj.Address, out int node) || (node = FindNode(obj.Address)) != None || _machines.TryGetValue(obj.Address, out node))
        {
            return node;
        }
        if (obj.Type is not { IsValueType: false } type || ClassLayout(type) is not { Description: not null } layout)
        {
            return None;
        }
        int state = _memory.ReadInt32(obj.Address + (ulong)layout.StateOffset);
        return _machines[obj.Address] = AddNode(obj.Address, obj.Address, layout, state, NodeFlags.None, continuation: 0);
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

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void ResolveParents(int node)
    {
        // Fast path: the common continuation is the awaiting box itself, and a caller's box is most often allocated right
        // after its callee's (the callee awaits first): the next box found.
        ulong continuation = N(node).Continuation;
        if (continuation != 0)
        {
            if (node + 1 < _boxCount && N(node + 1).Address == continuation)
            {
                AddParent(node, node + 1);
                return;
            }
            if (FindNode(continuation) is not None and var awaiting)
            {
                AddParent(node, awaiting);
                return;
            }
            Resolve(node, _runtime.Heap.GetObject(continuation), 0);
        }
        if (N(node).ParentCount > 0 || N(node).BlockedOn || !(N(node).IsPooling || HolderOf(node) != N(node).Address))
        {
            return;
        }
        ClrObject obj = _runtime.Heap.GetObject(N(node).Address);
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
    private void Resolve(int node, ClrObject continuation, int depth)
    {
        if (continuation.IsNull || continuation.Type is null || depth > 16)
        {
            return;
        }
        string definition = _objects.DefinitionName(continuation.Type);
        int awaiting = FindNode(continuation.Address);
        if (awaiting != None || _byHolder.TryGetValue(continuation.Address, out awaiting))
        {
            AddParent(node, awaiting);
        }
        else if (definition == RuntimeTypeNames.ContinuationList)
        {
            foreach (ClrObject item in LeafRules.Items(_objects, continuation) ?? [])
            {
                Resolve(node, item, depth + 1);
            }
        }
        else if (continuation.IsDelegate)
        {
            Resolve(node, continuation.ReadObjectField(RuntimeTypeNames.DelegateTargetField), depth + 1);
        }
        else if (RuntimeTypeNames.Wrapper(definition) is var (kind, wrapped))
        {
            if (kind == ObjectKind.BlockingWait)
            {
                N(node).BlockedOn = true;
            }
            else if (wrapped is not null)
            {
                Resolve(node, continuation.ReadObjectField(wrapped), depth + 1);
            }
        }
        else if (_objects.HasBaseNamed(continuation, "AwaitTaskContinuation")) // RuntimeTypeNames.AwaitTaskContinuation, by its simple name
        {
            Resolve(node, continuation.ReadObjectField(RuntimeTypeNames.AwaitTaskContinuationField), depth + 1);
        }
        else if (continuation.Type.GetFieldByName(RuntimeTypeNames.ContinuationField) is not null)
        {
            // A promise between tasks (WhenAll, WhenAny, Unwrap, ContinueWith, WaitAsync): a node of its own.
            int promise = AddNode(continuation.Address, continuation.Address, null, 0, NodeFlags.Promise, continuation: 0);
            _promiseTypes[promise] = _objects.DefinitionName(continuation.Type);
            _promises[continuation.Address] = promise;
            AddParent(node, promise);
            Resolve(promise, continuation.ReadObjectField(RuntimeTypeNames.ContinuationField), depth + 1);
        }
    }
}
