using System.Collections;
using System.Diagnostics;
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
        if (s_whenAllOfT is not null)
        {
            glue.Unwrap(s_whenAllOfT, o => Branch("Task.WhenAll", FieldPath.Read(o, "m_tasks") as IEnumerable));
        }
        if (s_whenAnyOfTwo is not null)
        {
            glue.Unwrap(s_whenAnyOfTwo, o => Branch("Task.WhenAny", new[] { FieldPath.Read(o, "_task1"), FieldPath.Read(o, "_task2") }));
        }
        if (s_whenAnyOfMany is not null)
        {
            glue.Unwrap(s_whenAnyOfMany, o => Branch("Task.WhenAny", FieldPath.Read(o, "_tasks") as IEnumerable));
        }
        if (s_waitAsync is not null)
        {
            glue.Unwrap(s_waitAsync, o => FieldPath.Read(o, "_task") is Task inner
                ? Unwrapped.To("Task.WaitAsync" + Timers.DescribeTimeout(FieldPath.Read(o, "_timer")), inner)
                : null);
        }

        glue.DescribeResource<CancellationTokenSource>(cts => new ResourceDescription(
            $"canceled: {(cts.IsCancellationRequested ? "yes" : "no")}" + Timers.DescribeDeadline(FieldPath.Read(cts, "_timer"))));
        glue.DescribeResource<Activity>(a => new ResourceDescription(
            $"Activity '{a.OperationName}' (trace {a.TraceId}, span {a.SpanId})"));
        glue.DescribeResource<SemaphoreSlim>(s => new ResourceDescription(Semaphores.Describe(s)));
    }

    /// <summary>The pending tasks of a combinator as its children; completed ones are counted, not shown.</summary>
    private static Unwrapped? Branch(string name, IEnumerable? tasks)
    {
        if (tasks is null)
        {
            return null;
        }
        var pending = new List<object>();
        int total = 0;
        foreach (object? t in tasks)
        {
            total++;
            if (t is Task { IsCompleted: false } task)
            {
                pending.Add(task);
            }
        }
        return new Unwrapped($"{name} of {total} task{(total == 1 ? "" : "s")}, {pending.Count} pending", pending);
    }
}
