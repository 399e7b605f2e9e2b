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
        // One stack per group: names, lines, resources and leaves are read for representatives only.
        List<StackGroup> result = groups.Build(root =>
        {
            try
            {
                if (IsShared(root))
                {
                    LogicalStack shared = StackFrom(root, new HashSet<ulong>(), blockedThread: false);
                    return new LogicalStack(shared.Frames, shared.Leaf, CallersOf(root, new HashSet<ulong> { N(root).Address }), shared.Errors, shared.IsTruncated, shared.Children);
                }
                return StackFrom(root, new HashSet<ulong>(), N(root).BlockedOn);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // One unreadable stack (a torn or corrupt object) is reported in its place; the rest of the forest stands.
                return new LogicalStack([], null, null, [new StackError($"reading the stack at 0x{N(root).Address:x} failed: {e.Message}", e.GetType().FullName)], true);
            }
        });
        return new StackForest(result, _scanCount, fromTracking: false, Array.Empty<StackError>());
    }

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
        return (hash, length);
    }

    /// <summary>
    /// The stack from <paramref name="node"/> down, through what each frame awaits, by the rules of in-process extraction:
    /// a combinator with one pending child is a frame, with several a branch; the innermost await's object is the leaf.
    /// </summary>
    private LogicalStack StackFrom(int node, HashSet<ulong> visited, bool blockedThread)
    {
        var frames = new List<LogicalFrame>();
        if (blockedThread)
        {
            frames.Add(Extraction.Walker.BlockingWaitFrame);
        }
        var errors = new List<StackError>();
        StackLeaf? leaf = null;
        IReadOnlyList<LogicalStack>? children = null;
        int current = node;
        ClrObject pending = default; // what the walk continues with when it is not a node
        int lastFrame = None;
        while (true)
        {
            if (frames.Count >= _options.MaxDepth)
            {
                errors.Add(new StackError($"depth limit of {_options.MaxDepth} frames reached"));
                break;
            }
            if (current == None)
            {
                if (pending.IsNull)
                {
                    break;
                }
                if ((current = MachineAt(pending)) != None)
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

            if (current != node && IsShared(current))
            {
                // Several stacks await it: it is a root of its own, with its awaiters (as in process).
                leaf = new StackLeaf(LeafKind.Shared, LeafRules.Shared(FrameOf(current).DisplayName, N(current).ParentCount), null);
                break;
            }
            if (!visited.Add(N(current).Address))
            {
                errors.Add(new StackError("cycle: an operation awaits itself through its callees (a deadlock)"));
                break;
            }
            if (PromiseType(current) is { } promiseType)
            {
                ClrObject promise = _runtime.Heap.GetObject(N(current).Address);
                if (LeafRules.Unwrap(_objects, promise) is { } unwrapped)
                {
                    if (!Continue(unwrapped.Description, unwrapped.Next, frames, ref current, ref pending, ref leaf, ref children, visited))
                    {
                        break;
                    }
                    continue;
                }
                // Children the promise keeps no reference to, found through their continuations (as in process with tracking).
                ObjectKind kind = RuntimeTypeNames.TaskKind(promiseType);
                string description = LeafRules.Recovered(kind, N(current).ChildCount, forEachAsync: false);
                if (N(current).ChildCount == 1 && kind == ObjectKind.Unwrap)
                {
                    frames.Add(Combinator(description));
                    current = AnyChild(current);
                    continue;
                }
                children = ChildrenOf(current).Select(child => StackFrom(child, new HashSet<ulong>(visited), blockedThread: false)).ToArray();
                leaf = new StackLeaf(LeafKind.Combinator, description, promiseType);
                break;
            }

            if (LayoutAt(current)?.Description is not { IsHidden: true })
            {
                frames.Add(FrameOf(current, visited, readResources: true)); // [StackscopeHidden] frames are left out, as in process
            }
            lastFrame = current;
            if (AwaitedOf(current).Address is not 0 and var awaited)
            {
                pending = _runtime.Heap.GetObject(awaited);
                current = None;
                continue;
            }
            if (N(current).ChildCount > 0)
            {
                // Linked through an IValueTaskSource's continuation state, with no awaiter field read.
                current = AnyChild(current);
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
    private List<LogicalStack> CallersOf(int node, HashSet<ulong> visited)
    {
        var branches = new List<LogicalStack>();
        foreach (int caller in ParentsOf(node))
        {
            var chain = new List<LogicalFrame>();
            IReadOnlyList<LogicalStack>? nested = WalkUp(caller, chain, visited);
            chain.Reverse();
            branches.Add(new LogicalStack(chain, null, nested, null, false));
        }
        if (N(node).BlockedOn)
        {
            branches.Add(new LogicalStack([Extraction.Walker.BlockingWaitFrame], null, null, null, false));
        }
        return branches;
    }

    /// <summary>Appends <paramref name="start"/> and its callers, innermost first, while each has one; returns the branches where several await.</summary>
    private IReadOnlyList<LogicalStack>? WalkUp(int start, List<LogicalFrame> up, HashSet<ulong> visited)
    {
        for (int n = start; n != None && up.Count < _options.MaxDepth && visited.Add(N(n).Address);)
        {
            if (LayoutAt(n)?.Description is not { IsHidden: true })
            {
                up.Add(PromiseType(n) is { } promiseType ? Combinator(RuntimeTypeNames.PromiseName(promiseType)) : FrameOf(n, visited, readResources: true));
            }
            if (N(n).ParentCount + (N(n).BlockedOn ? 1 : 0) > 1)
            {
                return CallersOf(n, visited);
            }
            if (N(n).BlockedOn)
            {
                up.Add(Extraction.Walker.BlockingWaitFrame);
                return null;
            }
            n = N(n).FirstParent;
        }
        return null;
    }

    /// <summary>What a combinator unwrapped to: a frame and the one thing it waits for, a branch of several, or a leaf of none.</summary>
    private bool Continue(string description, List<ClrObject> next, List<LogicalFrame> frames, ref int current, ref ClrObject pending, ref StackLeaf? leaf,
        ref IReadOnlyList<LogicalStack>? children, HashSet<ulong> visited)
    {
        current = None;
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
            branches.Add(FindNode(child.Address) is not None and var node ? StackFrom(node, new HashSet<ulong>(visited), blockedThread: false)
                : new LogicalStack([], LeafOf(child, None), null, null, false));
        }
        children = branches;
        leaf = new StackLeaf(LeafKind.Combinator, description, null);
        return false;
    }

    private static LogicalFrame Combinator(string name) => new(FrameKind.Combinator, name, null, FrameState.Suspended, null, null);

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
