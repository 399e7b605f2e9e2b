namespace Stackscope.Runtime;

/// <summary>
/// The runtime's and the compiler's types Stackscope recognises, by name: task kinds, combinator promises, awaiters,
/// state machine boxes and the compiler's field names. Names, not types, so one list serves this process (classifying a
/// <see cref="Type"/> by its definition's full name) and another (classifying a heap object's type name). Names are
/// generic definitions' full names (<c>System.Threading.Tasks.Task+WhenAllPromise`1</c>), those of System.Private.CoreLib
/// in .NET 8 to 10.
/// </summary>
internal static class RuntimeTypeNames
{
    /// <summary>A state machine's state field.</summary>
    public const string StateField = "<>1__state";

    /// <summary>The prefix of a state machine's awaiter fields (<c>&lt;&gt;u__1</c>).</summary>
    public const string AwaiterFieldPrefix = "<>u__";

    /// <summary>A state machine's builder field.</summary>
    public const string BuilderField = "<>t__builder";

    /// <summary>The field of an async method's box that holds its state machine.</summary>
    public const string BoxStateMachineField = "StateMachine";

    /// <summary>A task's continuation field: null, a sentinel once completed, one object, or a list.</summary>
    public const string ContinuationField = "m_continuationObject";

    /// <summary>A task's state flags.</summary>
    public const string StateFlagsField = "m_stateFlags";

    /// <summary>A managed thread's object, and its fields that hold its id, its name, and whether it has ended.</summary>
    public const string Thread = "System.Threading.Thread", ThreadIdField = "_managedThreadId", ThreadNameField = "_name", ThreadDeadField = "_isDead";

    /// <summary>Task.m_stateFlags bits of a finished task: ran to completion, faulted, canceled.</summary>
    public const int CompletedMask = RanToCompletionFlag | FaultedFlag | CanceledFlag;

    private const int StartedFlag = 0x10000, DelegateInvokedFlag = 0x20000, FaultedFlag = 0x200000, CanceledFlag = 0x400000,
        WaitingOnChildrenFlag = 0x800000, RanToCompletionFlag = 0x1000000, WaitingForActivationFlag = 0x2000000;

    /// <summary>A task's status from its state flags, as <see cref="Task.Status"/> computes it.</summary>
    public static TaskStatus StatusOf(int stateFlags) =>
        (stateFlags & FaultedFlag) != 0 ? TaskStatus.Faulted
        : (stateFlags & CanceledFlag) != 0 ? TaskStatus.Canceled
        : (stateFlags & RanToCompletionFlag) != 0 ? TaskStatus.RanToCompletion
        : (stateFlags & WaitingOnChildrenFlag) != 0 ? TaskStatus.WaitingForChildrenToComplete
        : (stateFlags & DelegateInvokedFlag) != 0 ? TaskStatus.Running
        : (stateFlags & StartedFlag) != 0 ? TaskStatus.WaitingToRun
        : (stateFlags & WaitingForActivationFlag) != 0 ? TaskStatus.WaitingForActivation
        : TaskStatus.Created;

    /// <summary>Whether a type is an async method's box holding its state machine (the heap's async operations).</summary>
    public static bool IsStateMachineBox(string definitionName) =>
        definitionName is "System.Runtime.CompilerServices.AsyncTaskMethodBuilder`1+AsyncStateMachineBox`1"
            or "System.Runtime.CompilerServices.AsyncTaskMethodBuilder`1+DebugFinalizableAsyncStateMachineBox`1";

    /// <summary>Whether a type is a pooling ValueTask builder's box (reused: a box in its pool awaits nothing).</summary>
    public static bool IsPoolingBox(string definitionName) =>
        definitionName == "System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder`1+StateMachineBox`1";

    /// <summary>How a task of this type is classified (a task type not listed is <see cref="ObjectKind.OtherTask"/>).</summary>
    public static ObjectKind TaskKind(string definitionName) => definitionName switch
    {
        "System.Threading.Tasks.Task+DelayPromise" or "System.Threading.Tasks.Task+DelayPromiseWithCancellation" => ObjectKind.DelayPromise,
        "System.Threading.SemaphoreSlim+TaskNode" => ObjectKind.SemaphoreWaiter,
        "System.Threading.Tasks.Task+WhenAllPromise" or "System.Threading.Tasks.Task+WhenAllPromise`1" => ObjectKind.WhenAll,
        "System.Threading.Tasks.Task+TwoTaskWhenAnyPromise`1" or "System.Threading.Tasks.TaskFactory+CompleteOnInvokePromise`1" => ObjectKind.WhenAny,
        "System.Threading.Tasks.UnwrapPromise`1" => ObjectKind.Unwrap,
        "System.Threading.Tasks.ContinuationTaskFromTask" or "System.Threading.Tasks.ContinuationResultTaskFromTask`1" or
        "System.Threading.Tasks.ContinuationTaskFromResultTask`1" or "System.Threading.Tasks.ContinuationResultTaskFromResultTask`2" => ObjectKind.ContinueWithTask,
        "System.Threading.Tasks.Task" or "System.Threading.Tasks.Task`1" => ObjectKind.PromiseTask,
        WaitAsyncPromise => ObjectKind.WaitAsync,
        _ => ObjectKind.OtherTask,
    };

    /// <summary><c>Task.WaitAsync</c>'s promise: the task it waits for in <c>_task</c>, its timer in <c>_timer</c>.</summary>
    public const string WaitAsyncPromise = "System.Threading.Tasks.Task+CancellationPromise`1";

    /// <summary>
    /// A promise between tasks as a frame or leaf names it: what a continuation registered on an awaited task resumes
    /// when it is not an async method.
    /// </summary>
    public static string PromiseName(string definitionName) => TaskKind(definitionName) switch
    {
        ObjectKind.WhenAll => "Task.WhenAll",
        ObjectKind.WhenAny => "Task.WhenAny",
        ObjectKind.Unwrap => "Unwrap (Task.Run of an async delegate)",
        ObjectKind.ContinueWithTask => "ContinueWith",
        ObjectKind.WaitAsync => "Task.WaitAsync",
        _ => "continuation",
    };

    /// <summary>
    /// The runtime's wrappers between a registered continuation and what it resumes, by definition name: the kind of
    /// wrapper and the field holding what it wraps (null for a blocking wait, which wraps nothing). AwaitTaskContinuation's
    /// subclasses are found by <see cref="AwaitTaskContinuation"/> on their base chain.
    /// </summary>
    public static (ObjectKind Kind, string? Field)? Wrapper(string definitionName) => definitionName switch
    {
        "System.Runtime.CompilerServices.AsyncMethodBuilderCore+ContinuationWrapper" => (ObjectKind.ContinuationWrapper, "_continuation"),
        "System.Threading.Tasks.ContinueWithTaskContinuation" => (ObjectKind.ContinueWithTaskContinuation, "m_task"),
        "System.Threading.Tasks.Task+SetOnInvokeMres" => (ObjectKind.BlockingWait, null),
        // ValueTask.AsTask() over an IValueTaskSource: a task that only waits for its source (Task.WhenAll of ValueTasks,
        // framework code that needs a Task); a walk goes on into the source.
        "System.Threading.Tasks.ValueTask+ValueTaskSourceAsTask" or "System.Threading.Tasks.ValueTask`1+ValueTaskSourceAsTask" => (ObjectKind.ValueTaskSourceTask, "_source"),
        _ => null,
    };

    /// <summary>The base of the continuations that resume an awaiter on a context or scheduler; what they resume is in <see cref="AwaitTaskContinuationField"/>.</summary>
    public const string AwaitTaskContinuation = "System.Threading.Tasks.AwaitTaskContinuation";

    /// <summary>The field of an AwaitTaskContinuation holding the action it runs.</summary>
    public const string AwaitTaskContinuationField = "m_action";

    /// <summary>A delegate's target (the box whose MoveNext it runs, or a ContinuationWrapper).</summary>
    public const string DelegateTargetField = "_target";

    /// <summary>The list the runtime keeps when a task has several continuations.</summary>
    public const string ContinuationList = "System.Collections.Generic.List`1";

    /// <summary>Whether <paramref name="type"/> is or implements the interface named <paramref name="fullName"/> (generic ones by definition, <c>IFoo`1</c>).</summary>
    /// <remarks>By name, so it holds for a <c>MetadataLoadContext</c>'s types, which are not this process's.</remarks>
    public static bool Implements(Type type, string fullName)
    {
        if (DefinitionName(type) == fullName)
        {
            return true;
        }
        foreach (Type i in type.GetInterfaces())
        {
            if (DefinitionName(i) == fullName)
            {
                return true;
            }
        }
        return false;
    }

    private static string? DefinitionName(Type t) => t.IsGenericType && !t.IsGenericTypeDefinition ? t.GetGenericTypeDefinition().FullName : t.FullName;

    /// <summary>Whether a type implements IValueTaskSource (generic or not), by name: the same test for this process's types and a metadata context's.</summary>
    public static bool IsValueTaskSource(Type type) =>
        Implements(type, "System.Threading.Tasks.Sources.IValueTaskSource") || Implements(type, "System.Threading.Tasks.Sources.IValueTaskSource`1");

    /// <summary>How to read an awaiter field of this type (by its type's definition name).</summary>
    public static AwaiterKind AwaiterKindOf(string definitionName) => definitionName switch
    {
        "System.Runtime.CompilerServices.TaskAwaiter" or "System.Runtime.CompilerServices.TaskAwaiter`1" or
        "System.Runtime.CompilerServices.ConfiguredTaskAwaitable+ConfiguredTaskAwaiter" or
        "System.Runtime.CompilerServices.ConfiguredTaskAwaitable`1+ConfiguredTaskAwaiter" => AwaiterKind.Task,
        "System.Runtime.CompilerServices.ValueTaskAwaiter" or "System.Runtime.CompilerServices.ValueTaskAwaiter`1" or
        "System.Runtime.CompilerServices.ConfiguredValueTaskAwaitable+ConfiguredValueTaskAwaiter" or
        "System.Runtime.CompilerServices.ConfiguredValueTaskAwaitable`1+ConfiguredValueTaskAwaiter" => AwaiterKind.ValueTask,
        "System.Runtime.CompilerServices.YieldAwaitable+YieldAwaiter" => AwaiterKind.Yield,
        _ => AwaiterKind.Custom,
    };

    /// <summary>The field path from an awaiter of <paramref name="kind"/> to what it awaits (the task, or the ValueTask's object).</summary>
    public static string[]? AwaitedPath(AwaiterKind kind) => kind switch
    {
        AwaiterKind.Task => ["m_task"],
        AwaiterKind.ValueTask => ["_value", "_obj"],
        _ => null,
    };
}
