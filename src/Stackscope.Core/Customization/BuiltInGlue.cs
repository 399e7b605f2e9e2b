using System.Diagnostics;
using Stackscope.Reading;
using Stackscope.Runtime;

namespace Stackscope;

/// <summary>
/// What Stackscope knows about the runtime's own combinators and resources, registered through the same
/// API as third-party glue (registered first, so any glue can override it).
/// </summary>
internal sealed class BuiltInGlue : IStackscopeGlue
{
    private static readonly Type? s_whenAllOfT = RuntimeType("System.Threading.Tasks.Task+WhenAllPromise`1");
    private static readonly Type? s_whenAnyOfTwo = RuntimeType("System.Threading.Tasks.Task+TwoTaskWhenAnyPromise`1");
    private static readonly Type? s_whenAnyOfMany = RuntimeType("System.Threading.Tasks.TaskFactory+CompleteOnInvokePromise`1");
    private static readonly Type? s_waitAsync = RuntimeType("System.Threading.Tasks.Task+CancellationPromise`1");

    private static Type? RuntimeType(string name) => typeof(Task).Assembly.GetType(name);

    public void Register(StackscopeGlueBuilder glue)
    {
        // The runtime's combinators that reference what they wait for: one rule with reads of other processes (LeafRules.Unwrap).
        foreach (Type? combinator in new[] { s_whenAllOfT, s_whenAnyOfTwo, s_whenAnyOfMany, s_waitAsync })
        {
            if (combinator is not null)
            {
                glue.Unwrap(combinator, o => LeafRules.Unwrap<object?>(LiveObjects.Instance, o) is { } unwrapped
                    ? new Unwrapped(unwrapped.Description, unwrapped.Next.OfType<object>().ToList())
                    : null);
            }
        }

        // CancellationTokenSource, SemaphoreSlim and lock scopes are described by RuntimeRules.Resource after glue, as out of
        // process. An Activity's ids are computed on first use: in process they are read through its properties once, so a
        // hierarchical-format Activity still shows its ids, then described by the same rule.
        glue.DescribeResource<Activity>(a =>
        {
            _ = a.TraceId;
            _ = a.SpanId;
            return new ResourceDescription(RuntimeRules.Activity<object?>(LiveObjects.Instance, a));
        });
    }
}
