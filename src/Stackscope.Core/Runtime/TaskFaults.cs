using System.Runtime.ExceptionServices;

namespace Stackscope.Runtime;

/// <summary>
/// Reads a faulted task's first exception without going through <see cref="Task.Exception"/>, whose getter
/// marks the exception as observed: that would silence <see cref="TaskScheduler.UnobservedTaskException"/>
/// and so change the program's behaviour, which extraction must never do.
/// </summary>
internal static class TaskFaults
{
    private static readonly Func<object, object?>? s_contingent = Reader(typeof(Task), "m_contingentProperties");
    private static readonly Func<object, object?>? s_holder =
        FieldPath.FindField(typeof(Task), "m_contingentProperties") is { } f ? Reader(f.FieldType, "m_exceptionsHolder") : null;
    private static readonly Func<object, object?>? s_faults =
        FieldPath.Resolve(typeof(Task), "m_contingentProperties", "m_exceptionsHolder") is { } p ? Reader(p[^1].FieldType, "m_faultExceptions") : null;

    private static Func<object, object?>? Reader(Type type, string name) =>
        FieldPath.FindField(type, name) is { FieldType.IsValueType: false } f ? FieldPath.Compile<object?>(type, [f]) : null;

    /// <summary>The first exception a faulted task holds, or null.</summary>
    public static Exception? FirstException(Task task)
    {
        try
        {
            object? props = s_contingent?.Invoke(task);
            object? holder = props is null ? null : s_holder?.Invoke(props);
            object? faults = holder is null ? null : s_faults?.Invoke(holder);
            if (faults is List<ExceptionDispatchInfo> list && list.Count > 0)
            {
                return list[0].SourceException;
            }
        }
        catch (Exception)
        {
            // Racing with the holder being built: report the fault without its message.
        }
        return null;
    }
}
