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
/// <param name="State">The state number the state machine holds while suspended here.</param>
internal sealed record SuspensionPoint(int Number, bool IsYield, string? AwaiterField, SourceLocation? Location, ResourceSlot[] Resources, int AwaiterIndex,
    MethodName? AwaitedCall, int State);

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
/// A state machine type of this process, read once and cached: its <see cref="StateMachineDescription"/> (what the
/// metadata says, shared with reads from other processes) and compiled readers for its state and awaiter fields. The
/// readers start from a "holder": the runtime's box for async methods (the state machine is a field of it), or the
/// state machine object itself for iterators.
/// </summary>
internal sealed class StateMachineModel
{
    private static readonly ConcurrentDictionary<Type, StateMachineModel?> s_byHolder = new();
    private static readonly ConcurrentDictionary<Type, StateMachineDescription?> s_byStateMachine = new();

    private readonly StateMachineDescription _info;
    private readonly Type _holderType;
    private readonly FieldInfo[] _prefix;
    private readonly ConcurrentDictionary<string, Func<object, object?>?> _fieldReaders = new();

    private StateMachineModel(StateMachineDescription info, Type holderType, FieldInfo[] prefix, Func<object, int> readState, AwaiterSlot[] awaiters, Func<object, object?>[] innerIterators)
    {
        _info = info;
        _holderType = holderType;
        _prefix = prefix;
        ReadState = readState;
        Awaiters = awaiters;
        InnerIterators = innerIterators;
    }

    /// <summary>What the metadata says about the state machine type.</summary>
    public StateMachineDescription Description => _info;

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
    public SuspensionPoint? PointFor(int state) => _info.PointFor(state);

    /// <summary>The awaiter slot an await stores its awaiter in, or null when the IL scan could not tell.</summary>
    public AwaiterSlot? SlotFor(SuspensionPoint point) =>
        (uint)point.AwaiterIndex < (uint)Awaiters.Length ? Awaiters[point.AwaiterIndex] : null;

    private ElaborationCache? _elaboration;

    /// <summary>What the glue says about this state machine's method, cached per glue set (so per frame it costs a field read).</summary>
    public ElaborationCache Elaboration(GlueSet glue)
    {
        ElaborationCache? cache = Volatile.Read(ref _elaboration);
        if (cache is null || !ReferenceEquals(cache.Glue, glue))
        {
            cache = Method is { } m
                ? new ElaborationCache(glue, _info.IsHidden, glue.ElaboratorsFor(m))
                : new ElaborationCache(glue, _info.IsHidden, []);
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

            StateMachineDescription? info = s_byStateMachine.GetOrAdd(smType, StateMachineDescription.Create);
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

            var awaiters = new AwaiterSlot[info.AwaiterFields.Length];
            for (int i = 0; i < awaiters.Length; i++)
            {
                awaiters[i] = CreateSlot(holderType, prefix, FieldPath.FindField(smType, info.AwaiterFields[i])!);
            }
            var inner = info.InnerIteratorFields.Select(f => FieldPath.Compile<object?>(holderType, Append(prefix, FieldPath.FindField(smType, f)!))).ToArray();
            return new StateMachineModel(info, holderType, prefix.ToArray(), readState, awaiters, inner);
        }
        catch (Exception)
        {
            return null;
        }
    }

    private static AwaiterSlot CreateSlot(Type holderType, List<FieldInfo> prefix, FieldInfo field)
    {
        Type t = field.FieldType;
        AwaiterKind kind = RuntimeTypeNames.AwaiterKindOf((t.IsGenericType ? t.GetGenericTypeDefinition().FullName : t.FullName) ?? t.Name);
        if (kind == AwaiterKind.Yield)
        {
            return new AwaiterSlot(field.Name, t, kind, null);
        }
        if (RuntimeTypeNames.AwaitedPath(kind) is { } path && FieldPath.Resolve(t, path) is { } awaitedPath)
        {
            return new AwaiterSlot(field.Name, t, kind, FieldPath.Compile<object?>(holderType, Concat(prefix, field, awaitedPath)));
        }
        return new AwaiterSlot(field.Name, t, AwaiterKind.Custom, FieldPath.Compile<object?>(holderType, Append(prefix, field)));
    }

    private static FieldInfo[] Append(List<FieldInfo> prefix, FieldInfo last) => [.. prefix, last];

    private static FieldInfo[] Concat(List<FieldInfo> prefix, FieldInfo field, FieldInfo[] rest) => [.. prefix, field, .. rest];
}
