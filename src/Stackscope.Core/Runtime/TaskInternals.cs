using System.Runtime.CompilerServices;

namespace Stackscope.Runtime;

/// <summary>
/// Typed access to the runtime's private task fields. Names are those of System.Private.CoreLib in
/// .NET 8 to 10; each accessor binds once, when the JIT compiles its first caller.
/// </summary>
internal static class TaskInternals
{
    /// <summary>The continuation(s) registered on a task: null, a sentinel once completed, one object, or a <c>List&lt;object?&gt;</c>.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "m_continuationObject")]
    public static extern ref object? ContinuationObject(Task task);

    /// <summary>The delegate a task runs (Task.Run, ContinueWith); for state machine boxes, the cached MoveNext action.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "m_action")]
    public static extern ref Delegate? Action(Task task);

    /// <summary>Set once a task has completed, in place of its continuation list.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.StaticField, Name = "s_taskCompletionSentinel")]
    public static extern ref object CompletionSentinel(Task? unused);

    /// <summary>When set, the runtime records every task it starts and every async method box it creates in <see cref="ActiveTasks"/>.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.StaticField, Name = "s_asyncDebuggingEnabled")]
    public static extern ref bool AsyncDebuggingEnabled(Task? unused);

    /// <summary>The runtime's registry of active tasks by id, guarded by a lock on the dictionary itself.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.StaticField, Name = "s_currentActiveTasks")]
    public static extern ref Dictionary<int, Task>? ActiveTasks(Task? unused);

    /// <summary>The object behind a <see cref="ValueTask"/>: null, a <see cref="Task"/> or an IValueTaskSource.</summary>
    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_obj")]
    public static extern ref object? ValueTaskObject(ref ValueTask valueTask);
}

/// <summary>Typed access to the object behind a <see cref="ValueTask{TResult}"/>.</summary>
internal static class ValueTaskInternals<T>
{
    [UnsafeAccessor(UnsafeAccessorKind.Field, Name = "_obj")]
    public static extern ref object? Object(ref ValueTask<T> valueTask);
}
