using System.Runtime.CompilerServices;
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
/// <see cref="ClrObjects"/>; a stack is walked down and up by Core's <see cref="Extraction.Descent"/> and
/// <see cref="Extraction.Ascent"/>, the walks in-process extraction makes. This class only finds the objects: the heap
/// scan and the links between them.
/// </remarks>
internal sealed partial class SnapshotReader
{
    private readonly ClrRuntime _runtime;
    private readonly TargetSymbols _symbols;
    private readonly ClrObjects _objects;
    private readonly InspectOptions _options;
    private readonly CancellationToken _cancellation;
    private readonly List<StackError> _errors = new();
    private readonly Dictionary<int, string?> _threadNames = new();
    private readonly Dictionary<ulong, Layout?> _classLayouts = new();
    private readonly WindowReader _memory;

    private enum TypeKind { Other, Box, PoolingBox, Thread }

    /// <summary>No node: the end of a link list, or an address with no node.</summary>
    private const int None = -1;

    /// <summary>An async operation on the heap: a state machine box, or a promise task between boxes (WhenAll, ...).</summary>
    /// <remarks>
    /// Nodes are values, 48 bytes each, stored in chunks rented from the shared array pool, and link to each other by
    /// number: a heap holds 100,000s of them, nearly all boxes of a struct state machine with one parent and one child.
    /// As objects, or in one array grown by doubling, they cost the reading process more in garbage collection and in
    /// fresh memory (a page fault per 4 KiB) than the read itself.
    /// </remarks>
    private struct NodeData
    {
        public ulong Address;

        /// <summary>The box's continuation as the scan read it; links are resolved from it once every box is known.</summary>
        public ulong Continuation;

        /// <summary>For a box: its state machine's layout, an index in <see cref="_layouts"/>; <see cref="None"/> for a promise.</summary>
        public int Layout;

        public int State;

        /// <summary>The first node awaiting this one; the first node this one awaits (the others follow through <see cref="NextSibling"/>).</summary>
        public int FirstParent, FirstChild;

        /// <summary>The next node awaited by the same parent as this one (a single-parent node's list).</summary>
        public int NextSibling;

        /// <summary>The number of nodes awaiting this one, and the number it awaits.</summary>
        public int ParentCount, ChildCount;

        public NodeFlags Flags;

        /// <summary>A pooling ValueTask box: not a task, so callers are linked only through IValueTaskSource state.</summary>
        public readonly bool IsPooling => (Flags & NodeFlags.Pooling) != 0;

        public readonly bool IsPromise => (Flags & NodeFlags.Promise) != 0;

        public bool BlockedOn
        {
            readonly get => (Flags & NodeFlags.BlockedOn) != 0;
            set => Flags = value ? Flags | NodeFlags.BlockedOn : Flags & ~NodeFlags.BlockedOn;
        }
    }

    [Flags]
    private enum NodeFlags : byte
    {
        None = 0,
        Pooling = 1,
        Promise = 2,
        BlockedOn = 4,

        /// <summary>Its state machine is a class: its fields are read from that object (<see cref="_holders"/>), not from the box.</summary>
        ClassMachine = 8,
    }

    private const int ChunkBits = 14;
    private const int ChunkMask = (1 << ChunkBits) - 1;

    /// <summary>The nodes, 16,384 a chunk: a chunk never moves, so a reference to a node stays valid while nodes are added.</summary>
    private readonly List<NodeData[]> _chunks = new();
    private int _nodeCount;

    /// <summary>The layouts nodes refer to by index (a few per state machine type).</summary>
    private readonly List<Layout> _layouts = new();
    private readonly Dictionary<Layout, int> _layoutIndex = new(ReferenceEqualityComparer.Instance);
    private int _lastLayout = None;

    /// <summary>Where a class state machine's fields are read from: its own object, by node.</summary>
    private readonly Dictionary<int, ulong> _holders = new();

    private ref NodeData N(int node) => ref _chunks[node >> ChunkBits][node & ChunkMask];

    private Layout? LayoutAt(int node) => N(node).Layout is >= 0 and var index ? _layouts[index] : null;

    /// <summary>Where a node's state machine's fields are read from: the box itself for a struct state machine.</summary>
    private ulong HolderOf(int node) => (N(node).Flags & NodeFlags.ClassMachine) != 0 ? _holders[node] : N(node).Address;

    /// <summary>Nodes [0, this) are the boxes the scan found, in ascending address order (looked up by binary search).</summary>
    private int _boxCount;

    /// <summary>Nodes [0, this) are the boxes and promises of the scan: the forest's operations.</summary>
    private int _scanCount;

    /// <summary>Promise nodes, by address, and their types' definition names.</summary>
    private readonly Dictionary<ulong, int> _promises = new();
    private readonly Dictionary<int, string> _promiseTypes = new();

    /// <summary>Boxes of a state machine class, by the state machine object's address (what an iterator's enumerator is).</summary>
    private readonly Dictionary<ulong, int> _byHolder = new();

    /// <summary>Nodes for state machine objects no box holds (an iterator at a yield), made when a stack reaches them.</summary>
    private readonly Dictionary<ulong, int> _machines = new();

    /// <summary>The rare second and later links: children of a branch, parents of a task awaited several times.</summary>
    private readonly Dictionary<int, (List<int> Children, List<int> Parents)> _extraLinks = new();

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int AddNode(ulong address, ulong holder, Layout? layout, int state, NodeFlags flags, ulong continuation)
    {
        if (_nodeCount >> ChunkBits == _chunks.Count)
        {
            _chunks.Add(System.Buffers.ArrayPool<NodeData>.Shared.Rent(1 << ChunkBits));
        }
        int layoutIndex = None;
        if (layout is not null)
        {
            if (_lastLayout != None && ReferenceEquals(_layouts[_lastLayout], layout))
            {
                layoutIndex = _lastLayout; // boxes of one type come in runs
            }
            else
            {
                if (!_layoutIndex.TryGetValue(layout, out layoutIndex))
                {
                    _layoutIndex[layout] = layoutIndex = _layouts.Count;
                    _layouts.Add(layout);
                }
                _lastLayout = layoutIndex;
            }
        }
        int node = _nodeCount++;
        if (holder != address)
        {
            flags |= NodeFlags.ClassMachine;
            _holders[node] = holder;
        }
        N(node) = new NodeData
        {
            Address = address, Layout = layoutIndex, State = state, Flags = flags, Continuation = continuation,
            FirstParent = None, FirstChild = None, NextSibling = None,
        };
        return node;
    }

    /// <summary>Gives the node chunks back to the pool (the forest is built: nothing refers to them any more).</summary>
    private void ReturnNodes()
    {
        foreach (NodeData[] chunk in _chunks)
        {
            System.Buffers.ArrayPool<NodeData>.Shared.Return(chunk);
        }
        _chunks.Clear();
        _nodeCount = 0;
    }

    /// <summary>The box or promise node at <paramref name="address"/>, or <see cref="None"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private int FindNode(ulong address)
    {
        int lo = 0, hi = _boxCount - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            ulong at = N(mid).Address;
            if (at == address)
            {
                return mid;
            }
            if (at < address)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return _promises.TryGetValue(address, out int promise) ? promise : None;
    }

    private string? PromiseType(int node) => N(node).IsPromise ? _promiseTypes[node] : null;

    /// <summary>Records that <paramref name="parent"/> awaits <paramref name="node"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private void AddParent(int node, int parent)
    {
        N(node).ParentCount++;
        N(parent).ChildCount++;
        if (N(node).FirstParent == None)
        {
            N(node).FirstParent = parent;
            N(node).NextSibling = N(parent).FirstChild;
            N(parent).FirstChild = node;
        }
        else
        {
            // A second awaiter of the same operation: the node appears under both (its stack repeats in each).
            ExtraLinks(parent).Children.Add(node);
            ExtraLinks(node).Parents.Add(parent);
        }
    }

    private (List<int> Children, List<int> Parents) ExtraLinks(int node)
    {
        if (!_extraLinks.TryGetValue(node, out var links))
        {
            _extraLinks[node] = links = (new List<int>(), new List<int>());
        }
        return links;
    }

    /// <summary>The first node <paramref name="node"/> awaits, whichever list holds it.</summary>
    private int AnyChild(int node) =>
        N(node).FirstChild != None ? N(node).FirstChild
        : _extraLinks.TryGetValue(node, out var links) && links.Children.Count > 0 ? links.Children[0] : None;

    /// <summary>The nodes awaiting <paramref name="node"/>, in the order their continuations were registered.</summary>
    private IEnumerable<int> ParentsOf(int node)
    {
        if (N(node).FirstParent != None)
        {
            yield return N(node).FirstParent;
        }
        if (_extraLinks.TryGetValue(node, out var links))
        {
            foreach (int p in links.Parents)
            {
                yield return p;
            }
        }
    }

    private IEnumerable<int> ChildrenOf(int node)
    {
        for (int c = N(node).FirstChild; c != None; c = N(c).NextSibling)
        {
            yield return c;
        }
        if (_extraLinks.TryGetValue(node, out var links))
        {
            foreach (int c in links.Children)
            {
                yield return c;
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
        try
        {
            return ReadAll(source, processId);
        }
        finally
        {
            ReturnNodes();
        }
    }

    private ProcessSnapshot ReadAll(string source, int processId)
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

}
