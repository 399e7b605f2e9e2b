using Stackscope.Runtime;
using Stackscope.Symbols;

namespace Stackscope.Reading;

/// <summary>
/// What a suspended stack's innermost await waits on, said one way for this process and another: the leaf's kind and
/// text for each kind of pending object (a TaskCompletionSource's task, Task.Run, Task.Delay, a semaphore's queue, a
/// channel, a timer, an IValueTaskSource, anything else), and the texts of branch points.
/// </summary>
internal static class LeafRules
{
    /// <summary>An iterator suspended at a <c>yield return</c> with no enumerator of its own under it.</summary>
    public const string YieldReturn = "yield return: waiting for the consumer to ask for the next item";

    /// <summary>An await of <c>Task.Yield()</c>.</summary>
    public const string TaskYield = "Task.Yield(): queued to resume";

    /// <summary>
    /// A pending awaited object as a leaf. <paramref name="kind"/> is the object's classification (task kinds by
    /// <see cref="RuntimeTypeNames.TaskKind"/>, <see cref="ObjectKind.ValueTaskSource"/>, or <see cref="ObjectKind.Other"/>).
    /// </summary>
    /// <param name="r">The reader of the process.</param>
    /// <param name="awaited">What the frame awaits.</param>
    /// <param name="kind">Its classification.</param>
    /// <param name="hoisted">The awaiting frame's hoisted reference fields (where its semaphore or channel is found); empty if none.</param>
    /// <param name="awaitedCall">The call whose result the frame awaits, when its IL says (a parallel loop's task).</param>
    /// <param name="describeDelegate">Names the method a delegate runs (Task.Run's and ContinueWith's).</param>
    /// <param name="subject">The object the leaf waits on for the wait-for graph (the semaphore), else <paramref name="awaited"/>.</param>
    public static (LeafKind Kind, string Text) Pending<T>(IObjectReader<T> r, T awaited, ObjectKind kind, IEnumerable<(string Name, T Value)> hoisted,
        MethodName? awaitedCall, Func<T, string> describeDelegate, out T subject)
    {
        subject = awaited;
        switch (kind)
        {
            case ObjectKind.PromiseTask when r.IsNull(r.Object(awaited, "m_action")) && ParallelLoops.IsLoop(awaitedCall):
                // The loop's task is a TaskCompletionSource's; the frame's IL says which call returned it.
                return (LeafKind.Combinator, ChildrenNeedTracking("Parallel." + awaitedCall!.Name, "workers"));
            case ObjectKind.PromiseTask when r.IsNull(r.Object(awaited, "m_action")):
                // "Task<int>" is the task of a "TaskCompletionSource<int>".
                return (LeafKind.TaskCompletionSource, "TaskCompletionSource" + r.FormatType(awaited)["Task".Length..] + ".Task");
            case ObjectKind.PromiseTask:
                return (LeafKind.DelegateTask, $"Task.Run: {describeDelegate(r.Object(awaited, "m_action"))} ({Status(r, awaited)})");
            case ObjectKind.ContinueWithTask:
                return (LeafKind.DelegateTask, $"ContinueWith: {describeDelegate(r.Object(awaited, "m_action"))} ({Status(r, awaited)})");
            case ObjectKind.DelayPromise:
                return (LeafKind.Delay, RuntimeRules.Delay(r, awaited));
            case ObjectKind.SemaphoreWaiter:
                T semaphore = RuntimeRules.FindInFrame(r, hoisted, o => RuntimeRules.IsSemaphore(r, o) && RuntimeRules.WaiterPosition(r, o, awaited) > 0);
                if (!r.IsNull(semaphore))
                {
                    subject = semaphore;
                }
                return (LeafKind.SemaphoreWait, RuntimeRules.SemaphoreWait(r, awaited, semaphore));
            case ObjectKind.WhenAll:
                return (LeafKind.Combinator, ChildrenNeedTracking("Task.WhenAll", "tasks"));
            case ObjectKind.WhenAny:
                return (LeafKind.Combinator, "Task.WhenAny");
            case ObjectKind.Unwrap:
                return (LeafKind.Combinator, "Task.Run(async ...): the delegate's task is not reachable downward; enable TaskTracking to follow it");
            case ObjectKind.WaitAsync:
                return (LeafKind.Combinator, "Task.WaitAsync" + RuntimeRules.Timeout(r, r.Object(awaited, "_timer")));
            case ObjectKind.OtherTask:
                return (LeafKind.Unknown, "task of type " + r.FormatType(awaited));
        }

        if (RuntimeRules.IsChannelOperation(r, awaited))
        {
            T channel = RuntimeRules.FindInFrame(r, hoisted, o => RuntimeRules.IsChannelPart(r, o));
            return (LeafKind.Channel, RuntimeRules.ChannelWait(r, awaited, channel));
        }
        if (r.DefinitionName(awaited) == "System.Threading.PeriodicTimer+State" && r.Object(awaited, "_owner") is var periodic && !r.IsNull(periodic))
        {
            return (LeafKind.Timer, RuntimeRules.PeriodicTimer(r, periodic));
        }
        return kind == ObjectKind.ValueTaskSource
            ? (LeafKind.ValueTaskSource, "IValueTaskSource " + r.FormatType(awaited))
            : (LeafKind.Unknown, "awaiting " + r.FormatType(awaited));
    }

    /// <summary>
    /// The runtime's combinators that keep references down to what they wait for (WhenAll of tasks with results, WhenAny,
    /// WaitAsync): what they are, and what they still wait for. Null for any other object, or when it cannot be read.
    /// </summary>
    public static (string Description, List<T> Next)? Unwrap<T>(IObjectReader<T> r, T promise)
    {
        switch (r.DefinitionName(promise))
        {
            case "System.Threading.Tasks.Task+WhenAllPromise`1":
                return Branch(r, "Task.WhenAll", Items(r, r.Object(promise, "m_tasks")));
            case "System.Threading.Tasks.Task+TwoTaskWhenAnyPromise`1":
                return Branch(r, "Task.WhenAny", [r.Object(promise, "_task1"), r.Object(promise, "_task2")]);
            case "System.Threading.Tasks.TaskFactory+CompleteOnInvokePromise`1":
                return Branch(r, "Task.WhenAny", Items(r, r.Object(promise, "_tasks")));
            case RuntimeTypeNames.WaitAsyncPromise:
                T inner = r.Object(promise, "_task");
                return r.IsNull(inner) ? null : ("Task.WaitAsync" + RuntimeRules.Timeout(r, r.Object(promise, "_timer")), [inner]);
            default:
                return null;
        }
    }

    /// <summary>The pending tasks of a combinator as its children; completed ones are counted, not shown.</summary>
    private static (string, List<T>)? Branch<T>(IObjectReader<T> r, string name, List<T>? tasks)
    {
        if (tasks is null)
        {
            return null;
        }
        var pending = new List<T>();
        foreach (T task in tasks)
        {
            if (!r.IsNull(task) && (r.Int32(task, RuntimeTypeNames.StateFlagsField) & RuntimeTypeNames.CompletedMask) == 0)
            {
                pending.Add(task);
            }
        }
        return (Branch(name, tasks.Count, pending.Count), pending);
    }

    /// <summary>The items of an array or a <c>List&lt;T&gt;</c>; null if it is neither.</summary>
    public static List<T>? Items<T>(IObjectReader<T> r, T collection)
    {
        if (r.IsNull(collection))
        {
            return null;
        }
        int count;
        T array = collection;
        if (r.Length(collection) is int length)
        {
            count = length;
        }
        else if (r.Int32(collection, "_size") is int size && r.Object(collection, "_items") is var items && r.Length(items) is int capacity)
        {
            count = Math.Min(size, capacity);
            array = items;
        }
        else
        {
            return null;
        }
        var result = new List<T>(Math.Min(count, 100_000));
        for (int i = 0; i < count && i < 100_000; i++)
        {
            result.Add(r.Element(array, i));
        }
        return result;
    }

    /// <summary>The leaf of a stack that awaits an operation other stacks of the forest await too (shown once, on its own).</summary>
    public static string Shared(string operation, int awaiters) =>
        $"{operation}, awaited by {awaiters} callers: its stack is shown once, as its own";

    /// <summary>A branch point whose children were found through their continuations: "Task.WhenAll: 3 pending (found through their continuations)".</summary>
    public static string Recovered(ObjectKind kind, int pending, bool forEachAsync)
    {
        string name = forEachAsync ? "Parallel.ForEachAsync"
            : kind switch
            {
                ObjectKind.WhenAll => "Task.WhenAll",
                ObjectKind.WhenAny => "Task.WhenAny",
                ObjectKind.Unwrap => "Task.Run(async ...)",
                ObjectKind.WaitAsync => "Task.WaitAsync",
                _ => "task completed by",
            };
        return $"{name}: {pending} pending (found through their continuations)";
    }

    /// <summary>A combinator's children as a branch: "Task.WhenAll of 5 tasks, 3 pending".</summary>
    public static string Branch(string name, int total, int pending) =>
        $"{name} of {total} task{(total == 1 ? "" : "s")}, {pending} pending";

    /// <summary>The leaf of a branch point whose children the runtime keeps no reference down to (found upward with tracking).</summary>
    public static string ChildrenNeedTracking(string branchPoint, string children) =>
        $"{branchPoint} (the runtime keeps no reference down to its {children}; enable TaskTracking to find them)";

    /// <summary>A delegate task's status, as its leaf says it.</summary>
    public static string Status<T>(IObjectReader<T> r, T task) =>
        r.Int32(task, RuntimeTypeNames.StateFlagsField) is int flags ? Describe(RuntimeTypeNames.StatusOf(flags)) : "?";

    private static string Describe(TaskStatus status) => status switch
    {
        TaskStatus.Running => "running on a thread",
        TaskStatus.WaitingToRun => "queued",
        TaskStatus.WaitingForActivation => "waiting for its antecedent",
        _ => status.ToString(),
    };
}
