namespace Stackscope.Threads;

/// <summary>
/// What a thread's frames say about async code, by the declaring type's full name (generic types by definition) and the
/// method's name: the same rules for this process's stack trace and another process's stack read with ClrMD.
/// </summary>
internal static class FrameFilters
{
    /// <summary>The async builders' Start methods, between a caller and an async method it called synchronously: never shown.</summary>
    public static bool IsBuilderStart(string? declaringType, string? method)
    {
        if (method != "Start" || declaringType is null || Namespace(declaringType) != "System.Runtime.CompilerServices")
        {
            return false;
        }
        string name = declaringType[(declaringType.LastIndexOf('.') + 1)..];
        return name.StartsWith("Async", StringComparison.Ordinal) || name.StartsWith("PoolingAsync", StringComparison.Ordinal);
    }

    /// <summary>
    /// Whether a running MoveNext of <paramref name="kind"/> was called by the runtime resuming it (a box, an execution
    /// context, a continuation) rather than synchronously by its caller, from the frames outside it, innermost first: the
    /// first known one decides. An iterator is always called by its consumer.
    /// </summary>
    public static bool IsResumedByMachinery(FrameKind kind, IEnumerable<(string? DeclaringType, string? Method)> outerFrames)
    {
        if (kind == FrameKind.Iterator)
        {
            return false;
        }
        foreach (var (type, method) in outerFrames)
        {
            if (type is null)
            {
                continue;
            }
            if (IsBuilderStart(type, method))
            {
                return false;
            }
            return Namespace(type) is "System.Runtime.CompilerServices" or "System.Threading" or "System.Threading.Tasks";
        }
        return false;
    }

    /// <summary>The runtime's frames of a blocking wait on a task (Task.Wait, .Result, GetAwaiter().GetResult()), under the frame that blocked.</summary>
    public static bool IsWaitInternals(string? declaringType, string? method) =>
        (declaringType == "System.Threading.Tasks.Task" && method is "Wait" or "InternalWait" or "InternalWaitCore" or "SpinThenBlockingWait" or "SpinWait"
            or "GetResultCore") ||
        (declaringType == "System.Threading.ManualResetEventSlim" && method == "Wait") ||
        (declaringType == "System.Threading.Monitor" && method is "Wait" or "ObjWait");

    /// <summary>The namespace of a full type name (<c>System.Threading.Tasks</c> for <c>System.Threading.Tasks.Task+Foo</c>).</summary>
    private static string Namespace(string fullName)
    {
        int plus = fullName.IndexOf('+');
        string outer = plus < 0 ? fullName : fullName[..plus];
        int dot = outer.LastIndexOf('.');
        return dot < 0 ? string.Empty : outer[..dot];
    }
}
