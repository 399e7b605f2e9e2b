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
internal sealed partial class SnapshotReader
{
    private readonly ClrRuntime _runtime;
    private readonly TargetSymbols _symbols;
    private readonly ClrObjects _objects;
    private readonly InspectOptions _options;
    private readonly CancellationToken _cancellation;
    private readonly List<StackError> _errors = new();
    private Dictionary<ulong, Node> _nodes = new();
    private readonly Dictionary<ulong, Node> _byHolder = new();
    private readonly List<Node> _boxes = new();

    /// <summary>Each box's continuation, read during the scan while its memory is in the window (parallel to <see cref="_boxes"/>).</summary>
    private readonly List<ulong> _continuations = new();
    private readonly Dictionary<int, string?> _threadNames = new();
    private readonly Dictionary<ulong, Layout?> _classLayouts = new();
    private readonly WindowReader _memory;

    private enum TypeKind { Other, Box, PoolingBox, Thread }

    /// <summary>An async operation on the heap: a state machine box, or a promise task between boxes (WhenAll, ...).</summary>
    /// <remarks>
    /// Links are inline fields, not lists, and what only some nodes need lives in subclasses: a heap holds 100,000s of
    /// nodes, nearly all boxes of a struct state machine with one parent and one child.
    /// </remarks>
    private class Node(ulong address)
    {
        public ulong Address { get; } = address;

        /// <summary>Where its state machine's fields are read from: the box itself for a struct state machine.</summary>
        public virtual ulong Holder => Address;

        /// <summary>For a box: its state machine's layout and description; null for a promise.</summary>
        public Layout? Layout { get; init; }

        public int State { get; init; }



        public bool BlockedOn { get; set; }

        /// <summary>A pooling ValueTask box: not a task, so callers are linked only through IValueTaskSource state.</summary>
        public bool IsPooling { get; init; }

        /// <summary>For a promise: its type's definition name.</summary>
        public virtual string? PromiseType => null;

        /// <summary>The number of nodes awaiting this one.</summary>
        public int ParentCount { get; private set; }

        /// <summary>The first node awaiting this one, if any.</summary>
        public Node? FirstParent { get; private set; }

        /// <summary>The first node this one awaits; the others follow through <see cref="NextSibling"/>.</summary>
        public Node? FirstChild { get; private set; }

        /// <summary>The next node awaited by the same parent as this one (a single-parent node's list).</summary>
        public Node? NextSibling { get; private set; }

        public int ChildCount { get; private set; }

        /// <summary>The rare second and later links: children of a branch, parents of a task awaited several times.</summary>
        private (List<Node> Children, List<Node> Parents)? _extra;

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
                parent.Extra.Children.Add(this);
                parent.ChildCount++;
                Extra.Parents.Add(parent);
            }
        }

        private (List<Node> Children, List<Node> Parents) Extra => _extra ??= (new List<Node>(), new List<Node>());

        /// <summary>The first node this one awaits, whichever list holds it.</summary>
        public Node? AnyChild => FirstChild ?? (_extra is { Children: [var first, ..] } ? first : null);

        /// <summary>The nodes awaiting this one, in the order their continuations were registered.</summary>
        public IEnumerable<Node> Parents()
        {
            if (FirstParent is not null)
            {
                yield return FirstParent;
            }
            foreach (Node p in _extra?.Parents ?? [])
            {
                yield return p;
            }
        }

        public IEnumerable<Node> Children()
        {
            for (Node? c = FirstChild; c is not null; c = c.NextSibling)
            {
                yield return c;
            }
            foreach (Node c in _extra?.Children ?? [])
            {
                yield return c;
            }
        }
    }

    /// <summary>A box whose state machine is a class (async iterators, Debug builds), or such a state machine with no box.</summary>
    private sealed class ClassMachineNode(ulong address, ulong holder) : Node(address)
    {
        public override ulong Holder { get; } = holder;
    }

    /// <summary>A promise task between operations (WhenAll, WhenAny, Unwrap, ContinueWith, WaitAsync).</summary>
    private sealed class PromiseNode(ulong address, string type) : Node(address)
    {
        public override string? PromiseType { get; } = type;
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

}
