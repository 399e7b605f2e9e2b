using Stackscope.Reading;
using Stackscope.Runtime;
using Stackscope.Symbols;

namespace Stackscope.Extraction;

/// <summary>What a registered continuation leads to.</summary>
internal enum LinkKind
{
    /// <summary>An async method or iterator awaiting the task (Target is its box or state machine object).</summary>
    Caller,

    /// <summary>A combinator or other task completed by this one (WhenAll, WhenAny, Unwrap); Target is that task.</summary>
    Promise,

    /// <summary>A ContinueWith task; Target is that task.</summary>
    ContinueWith,

    /// <summary>A thread blocked in Wait(), .Result or GetAwaiter().GetResult().</summary>
    BlockingWait,

    /// <summary>Something Stackscope cannot follow (a delegate of unknown code, an unknown object).</summary>
    Unknown,
}

/// <summary>A resolved continuation: what it leads to, and a name for it when it is not an async method.</summary>
internal readonly record struct ContinuationLink(LinkKind Kind, object? Target, string? Name);

/// <summary>
/// Reads the continuations registered on a task or an IValueTaskSource and resolves them through the
/// runtime's wrappers (AwaitTaskContinuation, ContinuationWrapper, MoveNext delegates) to what awaits.
/// </summary>
internal static class Continuations
{
    private const int MaxWrapperHops = 16;

    /// <summary>The raw continuation objects registered on <paramref name="target"/>; a torn list read is reported through <paramref name="error"/>.</summary>
    public static void Collect(object target, List<object> into, Action<string, Exception?> error)
    {
        if (target is Task task)
        {
            object? continuation = TaskInternals.ContinuationObject(task);
            if (continuation is List<object?> list)
            {
                try
                {
                    foreach (object? c in list.ToArray()) // mutated by the runtime under its lock; a torn copy is caught
                    {
                        if (c is not null)
                        {
                            into.Add(c);
                        }
                    }
                }
                catch (Exception e)
                {
                    error("reading a continuation list being changed", e);
                }
            }
            else if (continuation is not null && !ReferenceEquals(continuation, TaskInternals.CompletionSentinel(null)))
            {
                into.Add(continuation);
            }
            if (into.Count > 0)
            {
                return;
            }
        }

        RuntimeObjects info = RuntimeObjects.For(target.GetType());
        if (info.ContinuationState is null)
        {
            return;
        }
        object? state = info.ContinuationState(target);
        if (state is not null && Resolve(state).Kind != LinkKind.Unknown)
        {
            into.Add(state);
        }
        else if (info.Continuation?.Invoke(target) is Delegate d && !IsRuntimeSentinel(d))
        {
            into.Add(d);
        }
    }

    /// <summary>Follows wrappers from a continuation object to what it leads to.</summary>
    public static ContinuationLink Resolve(object continuation)
    {
        object? current = continuation;
        for (int hop = 0; hop < MaxWrapperHops && current is not null; hop++)
        {
            RuntimeObjects info = RuntimeObjects.For(current.GetType());
            switch (info.Kind)
            {
                case ObjectKind.StateMachine:
                    return new(LinkKind.Caller, current, null);
                case ObjectKind.ContinuationWrapper:
                case ObjectKind.AwaitTaskContinuation:
                    current = info.Next?.Invoke(current);
                    continue;
                case ObjectKind.Delegate:
                    var d = (Delegate)current;
                    if (d.Target is { } target && RuntimeObjects.For(target.GetType()).Kind is ObjectKind.StateMachine or ObjectKind.ContinuationWrapper)
                    {
                        current = target;
                        continue;
                    }
                    return new(LinkKind.Unknown, null, "continuation " + MethodNames.ForSyncMethod(d.Method));
                case ObjectKind.ContinueWithTaskContinuation:
                    return info.Next?.Invoke(current) is Task next
                        ? new(LinkKind.ContinueWith, next, "ContinueWith: " + DescribeDelegate(TaskInternals.Action(next)))
                        : new(LinkKind.Unknown, null, "ContinueWith");
                case ObjectKind.WhenAll:
                case ObjectKind.WhenAny:
                case ObjectKind.Unwrap:
                case ObjectKind.WaitAsync:
                    return new(LinkKind.Promise, current, RuntimeTypeNames.PromiseName(LiveObjects.DefinitionName(current.GetType())));
                case ObjectKind.BlockingWait:
                    return new(LinkKind.BlockingWait, null, null);
                default:
                    return current is Task
                        ? new(LinkKind.Promise, current, "continuation " + MethodNames.FormatType(current.GetType()))
                        : new(LinkKind.Unknown, null, "continuation " + MethodNames.FormatType(current.GetType()));
            }
        }
        return new(LinkKind.Unknown, null, "continuation wrappers nested too deep");
    }

    public static string DescribeDelegate(Delegate? d) => d is null ? "(no delegate)" : MethodNames.ForSyncMethod(d.Method);

    private static bool IsRuntimeSentinel(Delegate d) =>
        d.Method.DeclaringType?.FullName?.StartsWith("System.Threading.Tasks.Sources.ManualResetValueTaskSourceCoreShared", StringComparison.Ordinal) == true;
}
