using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using Stackscope.Symbols;

namespace Stackscope.Runtime;

/// <summary>One suspension point of a state machine: an await or a <c>yield return</c>.</summary>
/// <param name="Number">1-based number among the method's awaits (or among its yields).</param>
/// <param name="IsYield">True for a <c>yield return</c>, false for an await.</param>
/// <param name="AwaiterField">The awaiter field this await stores its awaiter in; null for yields or when unknown.</param>
/// <param name="Location">The statement's source location, or null without symbols.</param>
/// <param name="Resources">The using-like resources active at this point, outermost first.</param>
/// <param name="AwaiterIndex">The index of <paramref name="AwaiterField"/> among the state machine's awaiter fields, or -1.</param>
/// <param name="AwaitedCall">The method whose result the await awaits when it awaits a call directly (<c>await Parallel.ForEachAsync(...)</c>), else null.</param>
internal sealed record SuspensionPoint(int Number, bool IsYield, string? AwaiterField, SourceLocation? Location, ResourceSlot[] Resources, int AwaiterIndex,
    MethodBase? AwaitedCall = null);

/// <summary>A hoisted field holding a resource that is active at a suspension point.</summary>
/// <param name="Field">The hoisted field's name.</param>
/// <param name="VariableName">The C# variable's name, or null for <c>using (expression)</c> and enumerators.</param>
/// <param name="IsAsync">Disposed with <c>DisposeAsync</c>.</param>
/// <param name="Location">The statement that acquired the resource.</param>
internal sealed record ResourceSlot(string Field, string? VariableName, bool IsAsync, SourceLocation? Location);

/// <summary>Whether a method's frames are hidden and which elaborators apply to them, for one glue set.</summary>
internal sealed record ElaborationCache(GlueSet Glue, bool Hidden, (string Glue, Func<FrameContext, FrameElaboration?> Hook)[] Hooks);

/// <summary>How to read what an awaiter field is waiting on.</summary>
internal enum AwaiterKind
{
    /// <summary>TaskAwaiter and ConfiguredTaskAwaiter: the reader returns the <see cref="Task"/>.</summary>
    Task,

    /// <summary>ValueTaskAwaiter and ConfiguredValueTaskAwaiter: the reader returns the ValueTask's object (Task or IValueTaskSource).</summary>
    ValueTask,

    /// <summary>YieldAwaitable.YieldAwaiter: nothing to read.</summary>
    Yield,

    /// <summary>Any other awaiter: the reader returns the awaiter itself (boxed if a struct).</summary>
    Custom,
}

/// <summary>An awaiter field of a state machine and its compiled reader.</summary>
internal sealed record AwaiterSlot(string Name, Type AwaiterType, AwaiterKind Kind, Func<object, object?>? Read);

/// <summary>
/// What Stackscope knows about one compiler-generated state machine type, read once and cached:
/// the method it implements and its display name, its suspension points with their lines, and
/// compiled readers for its state and awaiter fields. The readers start from a "holder": the
/// runtime's box for async methods (the state machine is a field of it), or the state machine
/// object itself for iterators.
/// </summary>
internal sealed class StateMachineModel
{
    private static readonly ConcurrentDictionary<Type, StateMachineModel?> s_byHolder = new();
    private static readonly ConcurrentDictionary<Type, StaticInfo?> s_byStateMachine = new();

    private readonly StaticInfo _info;
    private readonly Type _holderType;
    private readonly FieldInfo[] _prefix;
    private readonly ConcurrentDictionary<string, Func<object, object?>?> _fieldReaders = new();

    private StateMachineModel(StaticInfo info, Type holderType, FieldInfo[] prefix, Func<object, int> readState, AwaiterSlot[] awaiters, Func<object, object?>[] innerIterators)
    {
        _info = info;
        _holderType = holderType;
        _prefix = prefix;
        ReadState = readState;
        Awaiters = awaiters;
        InnerIterators = innerIterators;
    }

    public FrameKind Kind => _info.Kind;
    public string DisplayName => _info.DisplayName;
    public MethodBase? Method => _info.Kickoff;
    public Type StateMachineType => _info.Type;

    /// <summary>Reads <c>&lt;&gt;1__state</c> from the holder.</summary>
    public Func<object, int> ReadState { get; }

    /// <summary>The awaiter fields, in declaration order.</summary>
    public AwaiterSlot[] Awaiters { get; }

    /// <summary>For iterators: readers of hoisted enumerators (a <c>foreach</c> over another iterator).</summary>
    public Func<object, object?>[] InnerIterators { get; }

    /// <summary>
    /// A reader for a hoisted field of the state machine (a local, a parameter, <c>&lt;&gt;4__this</c>) by name,
    /// compiled on first use and cached; null if there is no such field. Value types are boxed.
    /// </summary>
    public Func<object, object?>? FieldReader(string name) => _fieldReaders.GetOrAdd(name, n =>
        FieldPath.FindField(_info.Type, n) is { } f ? FieldPath.Compile<object?>(_holderType, [.. _prefix, f]) : null);

    /// <summary>
    /// A reader for a hoisted variable by C# name (a parameter keeps its name; a local <c>x</c> becomes
    /// <c>&lt;x&gt;5__N</c>) or by exact field name; null if not hoisted.
    /// </summary>
    public Func<object, object?>? HoistedReader(string name)
    {
        if (FieldReader(name) is { } exact)
        {
            return exact;
        }
        string prefix = "<" + name + ">5__";
        foreach (FieldInfo f in FieldPath.AllFields(_info.Type))
        {
            if (f.Name.StartsWith(prefix, StringComparison.Ordinal))
            {
                return FieldReader(f.Name);
            }
        }
        return null;
    }

    /// <summary>The hoisted fields of the state machine, for scans that look for a kind of object (a semaphore, a channel).</summary>
    public IEnumerable<FieldInfo> HoistedFields => FieldPath.AllFields(_info.Type);

    /// <summary>The suspension point for a state number, or null.</summary>
    public SuspensionPoint? PointFor(int state) =>
        (uint)state < (uint)_info.PointsByState.Length ? _info.PointsByState[state]
        : _info.Points.TryGetValue(state, out SuspensionPoint? p) ? p : null;

    /// <summary>The awaiter slot an await stores its awaiter in, or null when the IL scan could not tell.</summary>
    public AwaiterSlot? SlotFor(SuspensionPoint point) =>
        (uint)point.AwaiterIndex < (uint)Awaiters.Length ? Awaiters[point.AwaiterIndex] : null;

    private ElaborationCache? _elaboration;

    /// <summary>What the glue says about this state machine's method, cached per glue set (so per frame it costs a field read).</summary>
    public ElaborationCache Elaboration(GlueSet glue, Func<MethodBase, bool> isHidden)
    {
        ElaborationCache? cache = Volatile.Read(ref _elaboration);
        if (cache is null || !ReferenceEquals(cache.Glue, glue))
        {
            cache = Method is { } m
                ? new ElaborationCache(glue, isHidden(m), glue.ElaboratorsFor(m))
                : new ElaborationCache(glue, false, []);
            Volatile.Write(ref _elaboration, cache);
        }
        return cache;
    }

    /// <summary>True for the workers <c>Parallel.ForEachAsync</c> runs (their task is completed through a TaskCompletionSource they hold).</summary>
    public bool IsParallelWorker => _info.IsParallelWorker;

    /// <summary>The model for a holder type, or null if the type holds no compiler-generated state machine.</summary>
    /// <param name="holderType">A box type (with a <c>StateMachine</c> field) or a state machine class.</param>
    public static StateMachineModel? For(Type holderType) => s_byHolder.GetOrAdd(holderType, Create);

    private static StateMachineModel? Create(Type holderType)
    {
        try
        {
            var prefix = new List<FieldInfo>();
            Type smType = holderType;
            FieldInfo? boxField = typeof(IAsyncStateMachine).IsAssignableFrom(holderType) ? null : FieldPath.FindField(holderType, "StateMachine");
            if (boxField is not null)
            {
                prefix.Add(boxField);
                smType = boxField.FieldType;
            }

            StaticInfo? info = s_byStateMachine.GetOrAdd(smType, StaticInfo.Create);
            if (info is null)
            {
                return null;
            }

            FieldInfo? stateField = FieldPath.FindField(smType, "<>1__state");
            if (stateField is null || stateField.FieldType != typeof(int))
            {
                return null;
            }
            var readState = FieldPath.Compile<int>(holderType, Append(prefix, stateField));

            var awaiters = new List<AwaiterSlot>();
            var inner = new List<Func<object, object?>>();
            foreach (FieldInfo f in FieldPath.AllFields(smType))
            {
                if (f.Name.StartsWith("<>u__", StringComparison.Ordinal))
                {
                    awaiters.Add(CreateSlot(holderType, prefix, f));
                }
                // A foreach's hoisted enumerator: "<>7__wrapN" in Release builds, "<>s__N" in Debug builds.
                else if ((f.Name.StartsWith("<>7__wrap", StringComparison.Ordinal) || f.Name.StartsWith("<>s__", StringComparison.Ordinal)) &&
                         !f.FieldType.IsValueType &&
                         (f.FieldType.IsInterface || f.FieldType == typeof(object)))
                {
                    inner.Add(FieldPath.Compile<object?>(holderType, Append(prefix, f)));
                }
            }
            return new StateMachineModel(info, holderType, prefix.ToArray(), readState, awaiters.ToArray(), inner.ToArray());
        }
        catch (Exception)
        {
            return null;
        }
    }

    private static AwaiterSlot CreateSlot(Type holderType, List<FieldInfo> prefix, FieldInfo field)
    {
        Type t = field.FieldType;
        string name = t.IsGenericType ? t.GetGenericTypeDefinition().FullName ?? t.Name : t.FullName ?? t.Name;
        switch (name)
        {
            case "System.Runtime.CompilerServices.TaskAwaiter":
            case "System.Runtime.CompilerServices.TaskAwaiter`1":
            case "System.Runtime.CompilerServices.ConfiguredTaskAwaitable+ConfiguredTaskAwaiter":
            case "System.Runtime.CompilerServices.ConfiguredTaskAwaitable`1+ConfiguredTaskAwaiter":
                if (FieldPath.Resolve(t, "m_task") is { } taskPath)
                {
                    return new AwaiterSlot(field.Name, t, AwaiterKind.Task, FieldPath.Compile<object?>(holderType, Concat(prefix, field, taskPath)));
                }
                break;
            case "System.Runtime.CompilerServices.ValueTaskAwaiter":
            case "System.Runtime.CompilerServices.ValueTaskAwaiter`1":
            case "System.Runtime.CompilerServices.ConfiguredValueTaskAwaitable+ConfiguredValueTaskAwaiter":
            case "System.Runtime.CompilerServices.ConfiguredValueTaskAwaitable`1+ConfiguredValueTaskAwaiter":
                if (FieldPath.Resolve(t, "_value", "_obj") is { } objPath)
                {
                    return new AwaiterSlot(field.Name, t, AwaiterKind.ValueTask, FieldPath.Compile<object?>(holderType, Concat(prefix, field, objPath)));
                }
                break;
            case "System.Runtime.CompilerServices.YieldAwaitable+YieldAwaiter":
                return new AwaiterSlot(field.Name, t, AwaiterKind.Yield, null);
        }
        return new AwaiterSlot(field.Name, t, AwaiterKind.Custom, FieldPath.Compile<object?>(holderType, Append(prefix, field)));
    }

    private static FieldInfo[] Append(List<FieldInfo> prefix, FieldInfo last) => [.. prefix, last];

    private static FieldInfo[] Concat(List<FieldInfo> prefix, FieldInfo field, FieldInfo[] rest) => [.. prefix, field, .. rest];

    /// <summary>What does not depend on the holder: the method, its name, its suspension points.</summary>
    private sealed class StaticInfo
    {
        private StaticInfo(Type type, FrameKind kind, MethodInfo? kickoff, string displayName, Dictionary<int, SuspensionPoint> points)
        {
            Type = type;
            Kind = kind;
            Kickoff = kickoff;
            DisplayName = displayName;
            Points = points;
            int size = points.Keys.Where(k => k >= 0).DefaultIfEmpty(-1).Max() + 1;
            PointsByState = new SuspensionPoint?[Math.Min(size, 4096)];
            foreach (var (state, point) in points)
            {
                if ((uint)state < (uint)PointsByState.Length)
                {
                    PointsByState[state] = point;
                }
            }
            IsParallelWorker = ParallelLoops.IsWorker(type);
        }

        public Type Type { get; }
        public FrameKind Kind { get; }
        public MethodInfo? Kickoff { get; }
        public string DisplayName { get; }
        public Dictionary<int, SuspensionPoint> Points { get; }

        /// <summary>The points of non-negative states by state number: the common lookup, without hashing.</summary>
        public SuspensionPoint?[] PointsByState { get; }

        public bool IsParallelWorker { get; }

        public static StaticInfo? Create(Type smType)
        {
            if (!typeof(IAsyncStateMachine).IsAssignableFrom(smType) && !IsIteratorType(smType))
            {
                return null;
            }

            MethodInfo? kickoff = MethodNames.FindKickoffMethod(smType);
            StateMachineAttribute? attribute = kickoff?.GetCustomAttribute<StateMachineAttribute>(inherit: false);
            FrameKind kind = attribute switch
            {
                AsyncIteratorStateMachineAttribute => FrameKind.AsyncIterator,
                IteratorStateMachineAttribute => FrameKind.Iterator,
                AsyncStateMachineAttribute => FrameKind.Async,
                _ => typeof(IAsyncStateMachine).IsAssignableFrom(smType)
                    ? (IsAsyncIteratorType(smType) ? FrameKind.AsyncIterator : FrameKind.Async)
                    : FrameKind.Iterator,
            };

            string display = kickoff is not null
                ? MethodNames.Describe(kickoff, kind == FrameKind.Iterator ? null : "async")
                : MethodNames.FormatType(smType);

            return new StaticInfo(smType, kind, kickoff, display, ReadPoints(smType, kind));
        }

        private static bool IsIteratorType(Type t) =>
            MethodNames.IsCompilerGenerated(t.Name) && typeof(System.Collections.IEnumerator).IsAssignableFrom(t);

        private static bool IsAsyncIteratorType(Type t) =>
            t.GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IAsyncEnumerator<>));

        private static Dictionary<int, SuspensionPoint> ReadPoints(Type smType, FrameKind kind)
        {
            var points = new Dictionary<int, SuspensionPoint>();
            try
            {
                Type definition = smType.IsGenericType ? smType.GetGenericTypeDefinition() : smType;
                MethodInfo? moveNext = definition.GetMethod("MoveNext", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, Type.EmptyTypes);
                if (moveNext is null || ILScanner.Body.Read(moveNext) is not { } body)
                {
                    return points;
                }
                MethodSymbols? symbols = PdbSymbols.For(definition.Assembly)?.GetMethod(moveNext.MetadataToken);
                List<DisposalRegion> regions = ResourceRegions(body, definition);
                List<string> awaiterFields = FieldPath.AllFields(definition)
                    .Where(f => f.Name.StartsWith("<>u__", StringComparison.Ordinal)).Select(f => f.Name).ToList();
                foreach (StateStore store in body.StateStores())
                {
                    int state = store.State;
                    bool isAwait = state >= 0 && kind != FrameKind.Iterator;
                    bool isYield = kind switch
                    {
                        FrameKind.Iterator => state >= 1,
                        FrameKind.AsyncIterator => state <= -4,
                        _ => false,
                    };
                    if ((!isAwait && !isYield) || points.ContainsKey(state))
                    {
                        continue;
                    }

                    // The state number selects the await; the PDB's async stepping information gives that
                    // await's yield and resume offsets, from which the await's line is read. Fall back to the
                    // statement around the state store when the PDB has no stepping information.
                    SourceLocation? location = isAwait ? symbols?.AwaitLocation(state, body) : null;
                    location ??= symbols?.FindLocation(store.ILOffset);

                    ResourceSlot[] resources = regions
                        .Where(r => r.TryStart <= store.ILOffset && store.ILOffset < r.TryEnd)
                        .Select(r => new ResourceSlot(r.Field, VariableName(r, store.ILOffset, symbols), r.IsAsync, r.InitOffset < 0 ? null : symbols?.FindLocation(r.InitOffset)))
                        .ToArray();

                    int number = isAwait ? state + 1 : kind == FrameKind.Iterator ? state : -state - 3;
                    int awaiterIndex = store.AwaiterField is null ? -1 : awaiterFields.IndexOf(store.AwaiterField);
                    MethodBase? awaitedCall = isAwait ? body.AwaitedCall(store.ILOffset) : null;
                    points[state] = new SuspensionPoint(number, isYield, store.AwaiterField, location, resources, awaiterIndex, awaitedCall);
                }
            }
            catch (Exception)
            {
                // No IL or no symbols: frames still show method and state.
            }
            return points;
        }

        /// <summary>
        /// The disposal regions that guard resources, outermost first. A synchronous <c>foreach</c>'s enumerator
        /// is disposed the same way as a <c>using</c> resource but is not one, so it is left out.
        /// </summary>
        private static List<DisposalRegion> ResourceRegions(ILScanner.Body body, Type definition)
        {
            var regions = new List<DisposalRegion>();
            foreach (DisposalRegion region in body.DisposalRegions())
            {
                Type? fieldType = FieldPath.FindField(definition, region.Field)?.FieldType;
                if (fieldType is null || (!region.IsAsync && typeof(System.Collections.IEnumerator).IsAssignableFrom(fieldType)))
                {
                    continue;
                }
                regions.Add(region);
            }
            regions.Sort((a, b) => a.TryStart != b.TryStart ? a.TryStart.CompareTo(b.TryStart) : b.TryEnd.CompareTo(a.TryEnd));
            return regions;
        }

        /// <summary>
        /// The C# name of the variable a region's field holds at <paramref name="ilOffset"/>. <c>&lt;name&gt;5__2</c> is the
        /// hoisted local <c>name</c>, unless the PDB says that variable is out of scope there: a Release build reuses
        /// one field for same-typed locals in scopes that do not overlap, named after the first. Then the name is the
        /// one the using statement declares, read from the source (null if it cannot be read: no name rather than a
        /// wrong one). Other hoisted fields (<c>using (expression)</c>, enumerators) have no C# name.
        /// </summary>
        private static string? VariableName(DisposalRegion region, int ilOffset, MethodSymbols? symbols)
        {
            string field = region.Field;
            int close = field.IndexOf('>');
            if (!field.StartsWith('<') || close <= 1 || !field.AsSpan(close).StartsWith(">5__"))
            {
                return null;
            }
            string name = field[1..close];
            if (symbols is null || !int.TryParse(field.AsSpan(close + 4), System.Globalization.NumberStyles.None, null, out int slot) ||
                symbols.IsHoistedNameInScope(slot, ilOffset) != false)
            {
                return name;
            }
            return region.InitOffset >= 0 ? symbols.DeclaredNameAt(region.InitOffset) : null;
        }
    }
}
