using System.Runtime.CompilerServices;
using Microsoft.Diagnostics.Runtime;
using Stackscope.Reading;
using Stackscope.Runtime;

namespace Stackscope.Diagnostics.Clr;

/// <summary>Stacks from the linked nodes: the forest's groups, frames, resources, leaves and the callers of a node, by Core's rules.</summary>
internal sealed partial class SnapshotReader
{
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private StackForest BuildForest()
    {
        var groups = new Forest.RootGroups<(long, int), int>();
        int unique = 0;
        for (int node = 0; node < _scanCount; node++)
        {
            // Roots: what nothing awaits, and what several await (shown once, with its awaiters, as in process).
            ref NodeData n = ref N(node);
            if (n.ParentCount == 1 || n.ParentCount > 1 && n.IsPromise || n.IsPromise && n.ChildCount == 0)
            {
                continue;
            }
            groups.Add(Fingerprint(node, ref unique), node);
        }
        // Operations that await each other in a ring (a deadlock) are all awaited: one of each ring is a root, as in process.
        foreach (int ring in Forest.AwaitRings.Roots(new NodeGraph(this)))
        {
            groups.Add(Fingerprint(ring, ref unique), ring);
        }
        // One stack per group: names, lines, resources and leaves are read for representatives only.
        List<StackGroup> result = groups.Build(root =>
        {
            try
            {
                if (IsShared(root))
                {
                    LogicalStack shared = StackFrom(root, new HashSet<ulong>(), blockedThread: false);
                    var errors = new List<StackError>(shared.Errors);
                    List<LogicalStack> callers = CallersOf(root, new HashSet<ulong> { N(root).Address }, errors);
                    return new LogicalStack(shared.Frames, shared.Leaf, callers, errors.Count == 0 ? null : errors, shared.IsTruncated || errors.Count > shared.Errors.Count, shared.Children);
                }
                return StackFrom(root, new HashSet<ulong>(), N(root).BlockedOn);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One unreadable stack (a torn or corrupt object) is reported in its place; the rest of the forest stands.
                return new LogicalStack([], null, null, [new StackError($"reading the stack at 0x{N(root).Address:x} failed: {e.Message}", e.GetType().FullName)], true);
            }
        });
        return new StackForest(result, _scanCount, fromTracking: false, Array.Empty<StackError>()) { Origin = HeapOrigin };
    }

    /// <summary>Where an out-of-process forest's operations come from, as its first line names it.</summary>
    internal const string HeapOrigin = "heap scan";

    /// <summary>The scan's operations and the one awaiting each, numbered in address order: where deadlocked rings are found.</summary>
    private readonly struct NodeGraph(SnapshotReader reader) : Forest.IAwaitGraph
    {
        public int Count => reader._scanCount;

        public int Awaiter(int operation)
        {
            ref NodeData node = ref reader.N(operation);
            return node.ParentCount == 1 ? node.FirstParent : None;
        }

        public string Name(int operation) => reader.NameOf(operation);
    }

    /// <summary>What an operation is called in a ring or a cycle: a promise by its combinator's name, a box by its frame's.</summary>
    private string NameOf(int node) => PromiseType(node) is { } promiseType ? RuntimeTypeNames.PromiseName(promiseType) : FrameOf(node).DisplayName;

    /// <summary>How many await <paramref name="node"/>: the operations whose continuations it holds, and a thread blocked on it (as its awaited-by list shows them).</summary>
    private int AwaiterCount(int node) => N(node).ParentCount + (N(node).BlockedOn ? 1 : 0);

    /// <summary>An async method or iterator several others await: shown once, as a root with its awaiters (a promise they share stays their leaf).</summary>
    private bool IsShared(int node) => N(node).ParentCount > 1 && !N(node).IsPromise;

    /// <summary>
    /// The shape of a root's chain: state machine types and states, hashed, with its length (the same
    /// methods suspended at the same awaits; what the innermost await waits on is shown for the group's
    /// first root). Branching chains (several nodes awaited at one step) are never grouped.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private (long Hash, int Length) Fingerprint(int root, ref int unique)
    {
        long hash = N(root).BlockedOn ? 1 : 17;
        int length = 0;
        for (int n = root; n != None && length < _options.MaxDepth; length++)
        {
            if (n != root && IsShared(n))
            {
                return (unchecked(hash * 31 + (long)N(n).Address), length); // groups only with stacks ending at the same shared operation
            }
            hash = unchecked(hash * 31 + (N(n).IsPromise ? PromiseType(n)!.GetHashCode() : N(n).Layout));
            hash = unchecked(hash * 31 + N(n).State);
            if (N(n).ChildCount > 1 || N(n).IsPromise || n == root && IsShared(n))
            {
                return (hash, -(++unique)); // a branch, a combinator whose description is its own, or a shared operation
            }
            n = N(n).FirstChild;
        }
        return length >= _options.MaxDepth ? (hash, -(++unique)) : (hash, length); // a chain as deep as the limit (a ring) is its own
    }

    /// <summary>
    /// The stack from <paramref name="node"/> down, through what each frame awaits, by the walk in-process extraction
    /// makes (<see cref="Extraction.Descent"/>) over the heap's objects (<see cref="HeapDescent"/>).
    /// </summary>
    private LogicalStack StackFrom(int node, HashSet<ulong> visited, bool blockedThread) =>
        new HeapDescent(this, visited).Stack(_runtime.Heap.GetObject(N(node).Address), blockedThread);

    /// <summary>
    /// The heap's side of the walk down a stack: the boxes and promises the scan linked are its frames and combinators,
    /// read by Core's rules; any other object is the leaf. One per stack: a branch walks with a copy of what its stack
    /// visited, so a cycle is found on its own path only.
    /// </summary>
    private sealed class HeapDescent(SnapshotReader reader, HashSet<ulong> visited) : Extraction.IDescentSource<ClrObject>
    {
        private readonly List<StackError> _errors = new();

        public LogicalStack Stack(ClrObject start, bool blockedThread)
        {
            var frames = new List<LogicalFrame>();
            if (blockedThread)
            {
                frames.Add(Extraction.Walker.BlockingWaitFrame);
            }
            StackLeaf? leaf = Extraction.Descent.Walk<HeapDescent, ClrObject>(this, start, frames, FrameFlags.None, out IReadOnlyList<LogicalStack>? children);
            return new LogicalStack(frames, leaf, null, _errors.Count == 0 ? null : _errors, _errors.Count > 0, children);
        }

        /// <summary>The box or promise of <paramref name="value"/>, or the node made for a state machine object no box holds.</summary>
        private int NodeOf(ClrObject value) => reader.MachineAt(value);

        private ClrObject ObjectOf(int node) => reader._runtime.Heap.GetObject(reader.N(node).Address);

        public bool IsNull(ClrObject value) => value.IsNull;

        public bool Enter(ClrObject value, int depth)
        {
            if (depth >= reader._options.MaxDepth)
            {
                _errors.Add(new StackError(Extraction.Descent.DepthLimit(reader._options.MaxDepth)));
                return false;
            }
            int node = NodeOf(value);
            if (!visited.Add(node == None ? value.Address : reader.N(node).Address))
            {
                string name = node != None && !reader.N(node).IsPromise ? reader.FrameOf(node).DisplayName : reader._objects.FormatType(value);
                _errors.Add(new StackError(Extraction.Descent.Cycle(name, depth)));
                return false;
            }
            return true;
        }

        public bool Ready(ClrObject value, List<LogicalFrame> frames, out StackLeaf? leaf, out IReadOnlyList<LogicalStack>? children)
        {
            leaf = null;
            children = null;
            return false; // glue's stacks from other processes are joined in process only
        }

        public StackLeaf? Shared(ClrObject value, int depth, bool start) =>
            !start && NodeOf(value) is not None and var node && reader.IsShared(node)
                ? new StackLeaf(LeafKind.Shared, LeafRules.Shared(reader.FrameOf(node).DisplayName, reader.AwaiterCount(node)), null) // a root of its own, with its awaiters
                : null;

        public bool Forwards(ClrObject value, out ClrObject next)
        {
            // A task standing for an IValueTaskSource: what it waits for is the source.
            next = NodeOf(value) == None && reader._objects.DefinitionName(value) is "System.Threading.Tasks.ValueTask+ValueTaskSourceAsTask" or "System.Threading.Tasks.ValueTask`1+ValueTaskSourceAsTask"
                ? reader._objects.Object(value, "_source")
                : default;
            return !next.IsNull;
        }

        public bool Frame(ClrObject value, FrameFlags flags, out LogicalFrame? frame, out ClrObject next, out StackLeaf? leaf, out bool prune)
        {
            frame = null;
            next = default;
            leaf = null;
            prune = false;
            if (NodeOf(value) is not (not None and var node) || reader.N(node).IsPromise)
            {
                return false;
            }
            if (reader.LayoutAt(node)?.Description is not { IsHidden: true })
            {
                frame = reader.FrameOf(node, visited, readResources: true); // [StackscopeHidden] frames are left out, as in process
            }
            if (reader.AwaitedOf(node).Address is not 0 and var awaited)
            {
                next = reader._runtime.Heap.GetObject(awaited);
            }
            else if (reader.N(node).ChildCount > 0)
            {
                next = ObjectOf(reader.AnyChild(node)); // linked through an IValueTaskSource's continuation state, with no awaiter field read
            }
            else
            {
                leaf = reader.SlotLeaf(node);
            }
            return true;
        }

        public Extraction.Continuation<ClrObject>? Unwrap(ClrObject value)
        {
            int node = NodeOf(value);
            if (node != None && !reader.N(node).IsPromise)
            {
                return null;
            }
            if (LeafRules.Unwrap(reader._objects, value) is { } unwrapped)
            {
                return new Extraction.Continuation<ClrObject>(unwrapped.Description, unwrapped.Next, FrameState.Suspended, AlwaysBranches: false, TypeName: null);
            }
            if (node == None)
            {
                return null;
            }
            // Children the promise keeps no reference to, found through their continuations (as in process with tracking).
            string promiseType = reader.PromiseType(node)!;
            ObjectKind kind = RuntimeTypeNames.TaskKind(promiseType);
            ref NodeData n = ref reader.N(node);
            return new Extraction.Continuation<ClrObject>(LeafRules.Recovered(kind, n.ChildCount, forEachAsync: false), reader.ChildrenOf(node).Select(ObjectOf).ToArray(),
                FrameState.Suspended, AlwaysBranches: !(n.ChildCount == 1 && kind == ObjectKind.Unwrap), promiseType);
        }

        public StackLeaf? Leaf(ClrObject value, ClrObject lastFrame) => reader.LeafOf(value, lastFrame.IsNull ? None : NodeOf(lastFrame));

        public IReadOnlyList<LogicalStack> Branches(IReadOnlyList<ClrObject> next) =>
            next.Select(child => new HeapDescent(reader, new HashSet<ulong>(visited)).Stack(child, blockedThread: false)).ToArray();
    }

    /// <summary>
    /// The operations awaiting <paramref name="node"/>, each as the chain of its callers (outermost first), by the walk up
    /// in-process extraction makes (<see cref="Extraction.Ascent"/>); a thread blocked on it is one.
    /// </summary>
    private List<LogicalStack> CallersOf(int node, HashSet<ulong> visited, List<StackError> errors)
    {
        var callers = new HeapAscent(this, visited, errors);
        return Extraction.Ascent.Branches<HeapAscent, int>(callers, callers.Callers(node));
    }

    /// <summary>Appends the callers of <paramref name="node"/>, innermost first, while each has one; returns the branches where several await.</summary>
    private IReadOnlyList<LogicalStack>? CallersUp(int node, List<LogicalFrame> up, HashSet<ulong> visited, List<StackError> errors) =>
        Extraction.Ascent.Walk<HeapAscent, int>(new HeapAscent(this, visited, errors), node, up);

    /// <summary>The heap's side of the walk up: the nodes the scan linked to a node's continuations, and the threads blocked on it.</summary>
    /// <param name="reader">The reader whose nodes are walked.</param>
    /// <param name="visited">The operations shown so far.</param>
    /// <param name="errors">Where walks up that end early (a cycle, the depth limit) say why, as in process: the stack they belong to lists them.</param>
    private sealed class HeapAscent(SnapshotReader reader, HashSet<ulong> visited, List<StackError> errors) : Extraction.IAscentSource<int>
    {
        public IReadOnlyList<(LogicalFrame? Frame, int Next)> Callers(int node)
        {
            var callers = new List<(LogicalFrame?, int)>();
            foreach (int parent in reader.ParentsOf(node))
            {
                LogicalFrame? frame = reader.PromiseType(parent) is { } promiseType ? Extraction.Descent.Combinator(RuntimeTypeNames.PromiseName(promiseType), FrameState.Suspended)
                    : reader.LayoutAt(parent)?.Description is { IsHidden: true } ? null
                    : reader.FrameOf(parent, visited, readResources: true);
                callers.Add((frame, parent));
            }
            if (reader.N(node).BlockedOn)
            {
                callers.Add((Extraction.Walker.BlockingWaitFrame, None));
            }
            return callers;
        }

        public bool Enter(int next, int depth)
        {
            if (next == None)
            {
                return false;
            }
            if (!visited.Add(reader.N(next).Address))
            {
                errors.Add(new StackError(Extraction.Ascent.Cycle(reader.NameOf(next))));
                return false;
            }
            if (depth >= reader._options.MaxDepth)
            {
                errors.Add(new StackError(Extraction.Ascent.DepthLimit(reader._options.MaxDepth)));
                return false;
            }
            return true;
        }
    }

    /// <summary>The leaf of a frame that awaits no object: a yield return, Task.Yield, or a struct custom awaiter (named by its type).</summary>
    private StackLeaf? SlotLeaf(int node)
    {
        Layout layout = LayoutAt(node)!;
        if (layout.Description?.PointFor(N(node).State) is { IsYield: true })
        {
            return new StackLeaf(LeafKind.IteratorYield, LeafRules.YieldReturn, null);
        }
        if (AwaitedOf(node).Slot is int index && (uint)index < (uint)layout.Awaiters.Length && layout.Awaiters[index] is { } slot)
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
    private StackLeaf? LeafOf(ClrObject awaited, int frame)
    {
        if (_objects.IsNull(awaited))
        {
            return null;
        }
        string definition = _objects.DefinitionName(awaited)!;
        ObjectKind kind = IsTask(awaited.Type!) ? RuntimeTypeNames.TaskKind(definition)
            : _symbols.IsValueTaskSource(awaited.Type!.Name, awaited.Type.Module?.Name) ? ObjectKind.ValueTaskSource
            : ObjectKind.Other;
        SuspensionPoint? point = frame == None ? null : LayoutAt(frame)?.Description?.PointFor(N(frame).State);
        (LeafKind leafKind, string text) = LeafRules.Pending(_objects, awaited, kind, frame == None ? [] : Hoisted(frame), point?.AwaitedCall, DescribeDelegate, out _);
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
    private IEnumerable<(string, ClrObject)> Hoisted(int frame)
    {
        ulong holder = HolderOf(frame);
        foreach (var (name, (offset, field)) in LayoutAt(frame)!.Fields)
        {
            if (field.IsObjectReference && !name.StartsWith(RuntimeTypeNames.AwaiterFieldPrefix, StringComparison.Ordinal) && name != RuntimeTypeNames.BuilderField)
            {
                yield return (name, _runtime.Heap.GetObject(_memory.ReadPointer(holder + (ulong)offset)));
            }
        }
    }

    private LogicalFrame FrameOf(int node, HashSet<ulong>? visited = null, bool readResources = false)
    {
        Layout layout = LayoutAt(node)!;
        int nodeState = N(node).State;
        if (layout.Description is not { } description)
        {
            FrameState unknownState = nodeState switch { -1 => FrameState.Running, -2 => FrameState.Completed, >= 0 => FrameState.Suspended, _ => FrameState.Unknown };
            return new LogicalFrame(FrameKind.Async, _objects.FormatType(_runtime.Heap.GetObject(HolderOf(node))), null, unknownState, null, null);
        }
        SuspensionPoint? point = description.PointFor(nodeState);
        FrameState state = point is not null ? FrameState.Suspended : description.StateWithoutPoint(nodeState);
        if (state == FrameState.Unknown && AwaitedOf(node).Address != 0)
        {
            state = FrameState.Suspended; // the one guess: an awaiter field was set
        }
        IReadOnlyList<HeldResource>? resources = readResources && point is { Resources.Length: > 0 } ? ReadResources(node, point, visited ?? new HashSet<ulong>()) : null;
        return description.Frame(state, point, resources: resources);
    }

    /// <summary>The resources a frame holds at its await, described by Core's rules; a resource that is suspended async code shows its stack.</summary>
    private List<HeldResource>? ReadResources(int node, SuspensionPoint point, HashSet<ulong> visited)
    {
        List<HeldResource>? result = null;
        foreach (ResourceSlot slot in point.Resources)
        {
            if (!LayoutAt(node)!.Fields.TryGetValue(slot.Field, out var field))
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
                    ClrObject resource = _runtime.Heap.GetObject(_memory.ReadPointer(HolderOf(node) + (ulong)field.Offset));
                    if (_objects.IsNull(resource))
                    {
                        continue; // not acquired yet on this path, or a null resource: nothing is held
                    }
                    description = RuntimeRules.Resource(_objects, resource, out _);
                    int machine = MachineAt(resource);
                    // An iterator's enumerator is named by the method it runs; suspended, it shows its stack unless the frame awaits it right now.
                    typeName = (machine == None ? null : LayoutAt(machine)?.Description?.DisplayName) ?? _objects.FormatType(resource);
                    if (machine != None && resource.Address != AwaitedOf(node).Address && !visited.Contains(N(machine).Address))
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
}
