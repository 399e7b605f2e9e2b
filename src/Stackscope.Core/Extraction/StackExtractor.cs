using System.Reflection;
using Stackscope.Extraction;
using Stackscope.Runtime;
using Stackscope.Threads;

namespace Stackscope;

/// <summary>
/// Extracts logical stacks: the chain of async methods awaiting each other, read from the runtime's
/// task and state machine objects without throwing, blocking or changing them.
/// </summary>
/// <example>
/// <code>
/// Task order = service.PlaceAsync(new Order(42));
/// Console.WriteLine(StackExtractor.Extract(order));
/// </code>
/// </example>
public static class StackExtractor
{
    /// <summary>
    /// Extracts the stack of a task: the async method behind it (if any), what it awaits down to the leaf,
    /// and the callers awaiting it.
    /// </summary>
    /// <param name="task">Any task: an async method's, a <see cref="TaskCompletionSource"/>'s, a combinator's.</param>
    /// <param name="options">Extraction options, or null for <see cref="ExtractOptions.Default"/>.</param>
    public static LogicalStack Extract(Task task, ExtractOptions? options = null) => new Walker(options).Extract(task);

    /// <summary>Extracts the stack of the operation behind a <see cref="ValueTask"/>.</summary>
    /// <param name="valueTask">The value task; one that completed synchronously yields an empty, completed stack.</param>
    /// <param name="options">Extraction options, or null for <see cref="ExtractOptions.Default"/>.</param>
    public static LogicalStack Extract(ValueTask valueTask, ExtractOptions? options = null) =>
        ExtractValueTaskObject(TaskInternals.ValueTaskObject(ref valueTask), options);

    /// <summary>Extracts the stack of the operation behind a <see cref="ValueTask{TResult}"/>.</summary>
    /// <typeparam name="TResult">The value task's result type.</typeparam>
    /// <param name="valueTask">The value task; one that completed synchronously yields an empty, completed stack.</param>
    /// <param name="options">Extraction options, or null for <see cref="ExtractOptions.Default"/>.</param>
    public static LogicalStack Extract<TResult>(ValueTask<TResult> valueTask, ExtractOptions? options = null) =>
        ExtractValueTaskObject(ValueTaskInternals<TResult>.Object(ref valueTask), options);

    /// <summary>
    /// Extracts the stack of any stack item: a <see cref="Task"/>, a boxed <see cref="ValueTask"/>, an async
    /// iterator (the <see cref="IAsyncEnumerable{T}"/> or <see cref="IAsyncEnumerator{T}"/> returned by an
    /// <c>async</c> iterator method), a synchronous iterator (from a <c>yield</c> method), an
    /// <see cref="System.Runtime.CompilerServices.IAsyncStateMachine"/> or an
    /// <see cref="System.Threading.Tasks.Sources.IValueTaskSource"/>. Anything else yields a stack whose leaf
    /// describes it.
    /// </summary>
    /// <param name="stackItem">The object to start from.</param>
    /// <param name="options">Extraction options, or null for <see cref="ExtractOptions.Default"/>.</param>
    public static LogicalStack Extract(object? stackItem, ExtractOptions? options = null)
    {
        try
        {
            return stackItem switch
            {
                ValueTask vt => Extract(vt, options),
                _ when stackItem is not null && stackItem.GetType().IsGenericType &&
                       stackItem.GetType().GetGenericTypeDefinition() == typeof(ValueTask<>) =>
                    ExtractValueTaskObject(stackItem.GetType().GetField("_obj", BindingFlags.Instance | BindingFlags.NonPublic)?.GetValue(stackItem), options),
                _ => new Walker(options).Extract(stackItem),
            };
        }
        catch (Exception e)
        {
            return new LogicalStack(Array.Empty<LogicalFrame>(), null, null,
                [new StackError("extraction failed: " + e.Message, e.GetType().FullName)], isTruncated: true);
        }
    }

    /// <summary>
    /// Extracts the calling thread's stack, innermost frame being the caller of this method, with
    /// compiler-generated frames demystified. When the caller runs inside an async method resumed by a
    /// continuation, the stack continues into the logical callers awaiting it (the junction is marked with
    /// <see cref="FrameFlags.AsyncJunction"/>) instead of the thread-pool machinery that resumed it.
    /// </summary>
    /// <param name="options">Extraction options, or null for <see cref="ExtractOptions.Default"/>.</param>
    /// <remarks>
    /// Crossing a junction needs the awaiting box of the resumed method, which the runtime records only
    /// while <see cref="TaskTracking"/> is enabled; otherwise the stack ends at the junction with an error
    /// that says so. Frames reached synchronously (before an async method's first await) need no tracking.
    /// </remarks>
    public static LogicalStack ExtractCurrent(ExtractOptions? options = null) =>
        CurrentThread.Extract(options, since: null, until: null);

    /// <summary>
    /// Like <see cref="ExtractCurrent"/>, but only the frames called, directly or indirectly, by the innermost
    /// active call of <paramref name="outer"/>, including that call. In the spirit of Python stackscope's
    /// <c>extract_since</c>.
    /// </summary>
    /// <param name="outer">
    /// The method to start at: an ordinary method or an async method (its state machine's <c>MoveNext</c>, as
    /// <see cref="MethodBase.GetCurrentMethod"/> returns inside an async method, also matches).
    /// </param>
    /// <param name="options">Extraction options, or null for <see cref="ExtractOptions.Default"/>.</param>
    public static LogicalStack ExtractSince(MethodBase outer, ExtractOptions? options = null) =>
        CurrentThread.Extract(options, since: outer, until: null);

    /// <summary>
    /// Like <see cref="ExtractCurrent"/>, but only the frames from the outermost logical caller down to the
    /// innermost active call of <paramref name="inner"/>, including it. In the spirit of Python stackscope's
    /// <c>extract_until</c>.
    /// </summary>
    /// <param name="inner">The method to stop at (see <see cref="ExtractSince"/> for async methods).</param>
    /// <param name="options">Extraction options, or null for <see cref="ExtractOptions.Default"/>.</param>
    public static LogicalStack ExtractUntil(MethodBase inner, ExtractOptions? options = null) =>
        CurrentThread.Extract(options, since: null, until: inner);

    /// <summary>
    /// Every pending async operation in the process as a forest of logical stacks, identical stacks grouped
    /// with counts. Needs <see cref="TaskTracking"/> enabled before the operations started (the runtime only
    /// records operations while tracking is on); without it the forest is empty and says so in its errors.
    /// </summary>
    /// <param name="options">Extraction options for each group's stack, or null for <see cref="ExtractOptions.Default"/>.</param>
    public static StackForest ExtractAll(ExtractOptions? options = null)
    {
        if (!TaskTracking.IsEnabled)
        {
            return new StackForest(Array.Empty<StackGroup>(), 0, fromTracking: false,
                [new StackError("task tracking is off: call TaskTracking.Enable() before the operations start, or pass explicit roots")]);
        }
        if (!TaskTracking.TryActiveTasks(out Task[] tracked))
        {
            return new StackForest(Array.Empty<StackGroup>(), 0, fromTracking: true, [new StackError(TaskTracking.RegistryBusy)]);
        }
        return ExtractAllSafe(tracked, fromTracking: true, options);
    }

    /// <summary>
    /// The forest over explicit roots (tasks, value tasks, iterators, state machines): each root that no other
    /// given root awaits becomes a stack, identical stacks grouped with counts. Needs no tracking.
    /// </summary>
    /// <param name="roots">The objects to start from.</param>
    /// <param name="options">Extraction options for each group's stack, or null for <see cref="ExtractOptions.Default"/>.</param>
    public static StackForest ExtractAll(IEnumerable<object> roots, ExtractOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(roots);
        var list = new List<object>();
        foreach (object root in roots)
        {
            object? unwrapped = root switch
            {
                ValueTask vt => TaskInternals.ValueTaskObject(ref vt),
                _ => root,
            };
            if (unwrapped is not null)
            {
                list.Add(unwrapped);
            }
        }
        return ExtractAllSafe(list, fromTracking: false, options);
    }

    private static StackForest ExtractAllSafe(IReadOnlyList<object> candidates, bool fromTracking, ExtractOptions? options)
    {
        try
        {
            GlueRegistry.EnsureDiscovered();
            return Forest.ForestBuilder.Build(candidates, fromTracking, options);
        }
        catch (Exception e)
        {
            return new StackForest(Array.Empty<StackGroup>(), candidates.Count, fromTracking,
                [new StackError("building the forest failed: " + e.Message, e.GetType().FullName)]);
        }
    }

    private static LogicalStack ExtractValueTaskObject(object? obj, ExtractOptions? options)
    {
        if (obj is null)
        {
            return new LogicalStack(Array.Empty<LogicalFrame>(),
                new StackLeaf(LeafKind.Completed, "ValueTask completed synchronously", typeof(ValueTask).FullName), null, null, false);
        }
        return new Walker(options).Extract(obj);
    }
}
