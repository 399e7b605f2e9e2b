using System.Collections.Concurrent;
using System.Reflection;
using System.Threading.Tasks.Sources;

namespace Stackscope.Runtime;

/// <summary>What an object met during a walk is, as far as Stackscope is concerned.</summary>
internal enum ObjectKind
{
    Other,
    StateMachine,
    PromiseTask,
    DelegateTask,
    ContinueWithTask,
    DelayPromise,
    SemaphoreWaiter,
    WhenAll,
    WhenAny,
    Unwrap,
    WaitAsync,
    OtherTask,
    ValueTaskSource,
    ContinuationWrapper,
    AwaitTaskContinuation,
    ContinueWithTaskContinuation,
    BlockingWait,
    Delegate,
    ValueTaskSourceTask,
}

/// <summary>
/// The classification of one runtime type plus the compiled readers a walk needs for it, built once
/// per type and cached for the life of the process.
/// </summary>
internal sealed class RuntimeObjects
{
    private static readonly ConcurrentDictionary<Type, RuntimeObjects> s_cache = new();

    private RuntimeObjects(ObjectKind kind, StateMachineModel? model = null, Func<object, object?>? next = null,
        Func<object, object?>? continuationState = null, Func<object, object?>? continuation = null,
        Func<object, object?>? stateMachineObject = null)
    {
        StateMachineObject = stateMachineObject;
        Kind = kind;
        Model = model;
        Next = next;
        ContinuationState = continuationState;
        Continuation = continuation;
    }

    public ObjectKind Kind { get; }

    /// <summary>For <see cref="ObjectKind.StateMachine"/>: the state machine model with the object as holder.</summary>
    public StateMachineModel? Model { get; }

    /// <summary>
    /// For wrappers, the wrapped object: ContinuationWrapper's continuation, AwaitTaskContinuation's action,
    /// ContinueWithTaskContinuation's task.
    /// </summary>
    public Func<object, object?>? Next { get; }

    /// <summary>For IValueTaskSource implementations: the state passed to the registered continuation (often the awaiting box).</summary>
    public Func<object, object?>? ContinuationState { get; }

    /// <summary>For a box holding a state machine class (async iterators, Debug builds): reads that object.</summary>
    public Func<object, object?>? StateMachineObject { get; }

    /// <summary>For IValueTaskSource implementations: the registered continuation delegate.</summary>
    public Func<object, object?>? Continuation { get; }

    public static RuntimeObjects For(Type type) => s_cache.GetOrAdd(type, Classify);

    /// <summary>
    /// A one-entry cache in front of <see cref="For"/> for loops over many objects of few types (a forest's
    /// thousands of identical boxes): consecutive objects of the same type skip the dictionary.
    /// </summary>
    internal struct LastTypeCache
    {
        private Type? _type;
        private RuntimeObjects? _info;

        public RuntimeObjects For(Type type)
        {
            if (!ReferenceEquals(type, _type))
            {
                _info = RuntimeObjects.For(type);
                _type = type;
            }
            return _info!;
        }
    }

    private static RuntimeObjects Classify(Type type)
    {
        try
        {
            if (StateMachineModel.For(type) is { } model)
            {
                var (state, cont) = ValueTaskSourceReaders(type, []);
                Func<object, object?>? smObject = null;
                if (FieldPath.FindField(type, "StateMachine") is { FieldType.IsValueType: false } sm)
                {
                    smObject = FieldPath.Compile<object?>(type, [sm]);
                    if (state is null && cont is null)
                    {
                        // An async iterator's box: its consumer awaits the iterator object (through the promise
                        // the state machine class holds), not the box, so callers are found through the state machine.
                        (state, cont) = ValueTaskSourceReaders(sm.FieldType, [sm], type);
                    }
                }
                return new RuntimeObjects(ObjectKind.StateMachine, model, continuationState: state, continuation: cont, stateMachineObject: smObject);
            }

            string name = type.IsGenericType ? type.GetGenericTypeDefinition().FullName ?? type.Name : type.FullName ?? type.Name;
            if (RuntimeTypeNames.Wrapper(name) is var (wrapperKind, wrapped))
            {
                return wrapped is null ? new RuntimeObjects(wrapperKind) : Wrapper(type, wrapperKind, wrapped);
            }
            if (typeof(Delegate).IsAssignableFrom(type))
            {
                return new RuntimeObjects(ObjectKind.Delegate);
            }
            if (IsSubclassOfRuntime(type, RuntimeTypeNames.AwaitTaskContinuation))
            {
                return Wrapper(type, ObjectKind.AwaitTaskContinuation, RuntimeTypeNames.AwaitTaskContinuationField);
            }

            if (typeof(Task).IsAssignableFrom(type))
            {
                return new RuntimeObjects(RuntimeTypeNames.TaskKind(name));
            }

            if (RuntimeTypeNames.IsValueTaskSource(type))
            {
                var (state, cont) = ValueTaskSourceReaders(type, []);
                return new RuntimeObjects(ObjectKind.ValueTaskSource, continuationState: state, continuation: cont);
            }
        }
        catch (Exception)
        {
            // Unknown shapes are described by type name by the walker.
        }
        return new RuntimeObjects(ObjectKind.Other);
    }

    private static RuntimeObjects Wrapper(Type type, ObjectKind kind, string field) =>
        FieldPath.FindField(type, field) is { } f
            ? new RuntimeObjects(kind, next: FieldPath.Compile<object?>(type, [f]))
            : new RuntimeObjects(kind);

    private static bool IsSubclassOfRuntime(Type type, string fullName)
    {
        for (Type? t = type; t is not null; t = t.BaseType)
        {
            if (t.FullName == fullName)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Finds where an IValueTaskSource keeps its continuation: a <see cref="ManualResetValueTaskSourceCore{TResult}"/>
    /// field (async iterators, pooling boxes, most hand-written sources) or its own <c>_continuation</c>/<c>_continuationState</c>
    /// fields (channels' operations).
    /// </summary>
    private static (Func<object, object?>? State, Func<object, object?>? Continuation) ValueTaskSourceReaders(
        Type type, FieldInfo[] prefix, Type? root = null)
    {
        root ??= type;
        foreach (FieldInfo f in FieldPath.AllFields(type))
        {
            if (f.FieldType.IsGenericType && f.FieldType.GetGenericTypeDefinition() == typeof(ManualResetValueTaskSourceCore<>))
            {
                FieldInfo? state = FieldPath.FindField(f.FieldType, "_continuationState");
                FieldInfo? cont = FieldPath.FindField(f.FieldType, "_continuation");
                if (state is not null && cont is not null)
                {
                    return (FieldPath.Compile<object?>(root, [.. prefix, f, state]), FieldPath.Compile<object?>(root, [.. prefix, f, cont]));
                }
            }
        }
        FieldInfo? ownState = FieldPath.FindField(type, "_continuationState");
        FieldInfo? ownCont = FieldPath.FindField(type, "_continuation");
        return (ownState is { FieldType.IsValueType: false } ? FieldPath.Compile<object?>(root, [.. prefix, ownState]) : null,
                ownCont is { FieldType.IsValueType: false } ? FieldPath.Compile<object?>(root, [.. prefix, ownCont]) : null);
    }
}
