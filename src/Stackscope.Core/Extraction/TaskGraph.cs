using System.Diagnostics.CodeAnalysis;
using System.Reflection;
using Stackscope.Extraction;
using Stackscope.Runtime;

namespace Stackscope.Glue;

/// <summary>What kind of thing a <see cref="TaskContinuation"/> leads to.</summary>
public enum TaskContinuationKind
{
    /// <summary>An async method or iterator awaiting the task; <see cref="TaskContinuation.Target"/> is its box or state machine object.</summary>
    AsyncMethod,

    /// <summary>A task completed by this one (WhenAll, WhenAny, Unwrap, other promises); <see cref="TaskContinuation.Target"/> is that task.</summary>
    Promise,

    /// <summary>A ContinueWith task; <see cref="TaskContinuation.Target"/> is that task and <see cref="TaskContinuation.Callback"/> its delegate.</summary>
    ContinueWith,

    /// <summary>A thread blocked in Wait(), .Result or GetAwaiter().GetResult().</summary>
    BlockedThread,

    /// <summary>Something Stackscope cannot follow; <see cref="TaskContinuation.Callback"/> is the delegate when it is one.</summary>
    Unknown,
}

/// <summary>One continuation registered on a task or an IValueTaskSource, resolved through the runtime's wrappers.</summary>
/// <param name="Kind">What it leads to.</param>
/// <param name="Target">The awaiting object (async method box, promise or ContinueWith task), when known.</param>
/// <param name="Callback">The delegate that runs, for ContinueWith tasks and unknown delegates.</param>
public sealed record TaskContinuation(TaskContinuationKind Kind, object? Target, Delegate? Callback);

/// <summary>
/// The raw links between pending operations, for glue that must tie framework objects to the tasks they run
/// (an actor to its running handler, a request to the task serving it). Reads only; never throws.
/// </summary>
/// <remarks>
/// Extraction follows these links itself; glue needs them to find <em>roots</em>: an async handler that nothing
/// references downward can still be found upward, from a task it awaits, or among <see cref="TrackedTasks"/>.
/// </remarks>
public static class TaskGraph
{
    /// <summary>
    /// What waits for <paramref name="taskOrSource"/> (a <see cref="Task"/>, or an IValueTaskSource such as a pooled
    /// async method box): the continuations registered on it now, innermost wrappers resolved. Empty when it is
    /// completed, has none, or cannot be read.
    /// </summary>
    public static IReadOnlyList<TaskContinuation> ContinuationsOf(object? taskOrSource)
    {
        if (taskOrSource is null)
        {
            return Array.Empty<TaskContinuation>();
        }
        try
        {
            var raw = new List<object>(2);
            Continuations.Collect(taskOrSource, raw, static (_, _) => { });
            if (raw.Count == 0)
            {
                return Array.Empty<TaskContinuation>();
            }
            var links = new TaskContinuation[raw.Count];
            for (int i = 0; i < raw.Count; i++)
            {
                ContinuationLink link = Continuations.Resolve(raw[i]);
                links[i] = link.Kind switch
                {
                    LinkKind.Caller => new(TaskContinuationKind.AsyncMethod, link.Target, null),
                    LinkKind.Promise => new(TaskContinuationKind.Promise, link.Target, null),
                    LinkKind.ContinueWith => new(TaskContinuationKind.ContinueWith, link.Target, link.Target is Task t ? TaskInternals.Action(t) : null),
                    LinkKind.BlockingWait => new(TaskContinuationKind.BlockedThread, null, null),
                    _ => new(TaskContinuationKind.Unknown, null, raw[i] as Delegate),
                };
            }
            return links;
        }
        catch (Exception)
        {
            return Array.Empty<TaskContinuation>(); // a torn read of state another thread is changing
        }
    }

    /// <summary>
    /// Searches upward from <paramref name="start"/> (a task or IValueTaskSource), breadth first through what awaits
    /// it (async methods, promises, ContinueWith tasks), for the first object <paramref name="isTarget"/> accepts, e.g.
    /// the framework method that started a request. Bounded by <paramref name="maxNodes"/>; cycles are visited once.
    /// </summary>
    /// <param name="start">Where to start; it is tested too.</param>
    /// <param name="isTarget">What to find.</param>
    /// <param name="follow">Which continuations to climb through (all that lead somewhere by default).</param>
    /// <param name="maxNodes">How many objects to visit at most.</param>
    /// <returns>The object found, or null.</returns>
    public static object? FindAbove(object start, Func<object, bool> isTarget, Func<TaskContinuation, bool>? follow = null, int maxNodes = 4096)
    {
        ArgumentNullException.ThrowIfNull(start);
        ArgumentNullException.ThrowIfNull(isTarget);
        var seen = new HashSet<object>(ReferenceEqualityComparer.Instance);
        var work = new Queue<object>();
        work.Enqueue(start);
        while (work.Count > 0 && seen.Count < maxNodes)
        {
            object node = work.Dequeue();
            if (!seen.Add(node))
            {
                continue;
            }
            if (isTarget(node))
            {
                return node;
            }
            foreach (TaskContinuation c in ContinuationsOf(node))
            {
                if (c.Target is not null && (follow is null || follow(c)))
                {
                    work.Enqueue(c.Target);
                }
            }
        }
        return null;
    }

    /// <summary>
    /// The <see cref="ExecutionContext"/> an async method box captured at its first await (its AsyncLocal values, e.g. a
    /// framework's marker of the request or job it runs for); null if it captured none or is not a box. Read only.
    /// </summary>
    public static ExecutionContext? CapturedContextOf(object? asyncMethodBox) =>
        // Older runtimes keep it in the box's Context field; .NET 9+ in the task's m_stateObject, unused by boxes otherwise.
        asyncMethodBox is Task box && RuntimeObjects.For(box.GetType()).Kind == ObjectKind.StateMachine
            ? (FieldPath.Reader(box.GetType(), "Context") ?? FieldPath.Reader(box.GetType(), "m_stateObject"))?.Invoke(box) as ExecutionContext
            : null;

    /// <summary>
    /// The async method or iterator an async method box (or a state machine object) runs, as declared: e.g. the
    /// framework method that serves a request, to recognize its box among <see cref="TrackedTasks"/>. Null for any
    /// other object. Cached per type: costs a dictionary look-up.
    /// </summary>
    /// <remarks>For a generic method this may be its definition; compare with <see cref="MemberInfo.HasSameMetadataDefinitionAs"/>.</remarks>
    public static MethodBase? AsyncMethodOf(object? box) =>
        box is null ? null : RuntimeObjects.For(box.GetType()).Model?.Method;

    /// <summary>
    /// A hoisted variable of the suspended async method behind <paramref name="box"/>: a parameter or local by its C#
    /// name (or a compiler-generated field by its exact name), read through a reader compiled once per type. Null if the
    /// object runs no async method or the variable is not hoisted (Release builds hoist only what is used after an await).
    /// </summary>
    /// <param name="box">An async method box or state machine object.</param>
    /// <param name="name">The variable's name.</param>
    public static object? ReadHoisted(object? box, string name)
    {
        if (box is null || RuntimeObjects.For(box.GetType()).Model is not { } model)
        {
            return null;
        }
        try
        {
            return model.HoistedReader(name)?.Invoke(box);
        }
        catch (Exception)
        {
            return null; // a holder of another shape than the model's: nothing to read
        }
    }

    /// <summary>
    /// The operation a task-like value stands for: a <see cref="Task"/> itself; for a (boxed) <see cref="ValueTask"/> or
    /// <see cref="ValueTask{TResult}"/>, the task or IValueTaskSource behind it (null when it wraps a result). For glue that
    /// reads an awaitable out of a hoisted variable. Null for anything else.
    /// </summary>
    /// <param name="taskLike">A task, or a boxed ValueTask.</param>
    public static object? OperationOf(object? taskLike) => taskLike switch
    {
        null => null,
        Task task => task,
        ValueTask valueTask => FieldPath.Read(valueTask, "_obj"),
        _ when taskLike.GetType() is { IsGenericType: true } type && type.GetGenericTypeDefinition() == typeof(ValueTask<>) => FieldPath.Read(taskLike, "_obj"),
        _ => null,
    };

    /// <summary>
    /// The pending tasks and async method boxes the runtime's active-task registry holds while
    /// <see cref="TaskTracking"/> is enabled; empty when it is off or the registry stayed busy (see <see cref="TryTrackedTasks"/>,
    /// which tells the two apart).
    /// </summary>
    public static IReadOnlyList<Task> TrackedTasks() => TaskTracking.ActiveTasks();

    /// <summary>
    /// <see cref="TrackedTasks"/>, telling a busy registry from an empty one: false when the registry's lock stayed held
    /// for the bound of a copy (50 ms; the runtime holds it to add or remove a task, other readers to copy it). A reader
    /// then says so in its report (<paramref name="busy"/> is the sentence): the operations found only there are missing.
    /// </summary>
    /// <param name="tasks">The copy; empty when tracking is off or the registry stayed busy.</param>
    /// <param name="busy">When false is returned, one line saying what happened; otherwise null.</param>
    public static bool TryTrackedTasks(out IReadOnlyList<Task> tasks, [NotNullWhen(false)] out string? busy)
    {
        bool copied = TaskTracking.TryActiveTasks(out Task[] copy);
        tasks = copy;
        busy = copied ? null : TaskTracking.RegistryBusy;
        return copied;
    }
}
