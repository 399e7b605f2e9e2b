using System.Reflection;

namespace Stackscope.Runtime;

/// <summary>
/// <c>Parallel.ForEachAsync</c> and <c>Parallel.ForAsync</c>: their task is a TaskCompletionSource's that the last of
/// their workers completes; nothing references the workers from it (they are found upward, with tracking).
/// </summary>
internal static class ParallelLoops
{
    /// <summary>True when <paramref name="method"/> is one of the async parallel loops.</summary>
    public static bool IsLoop(Symbols.MethodName? method) =>
        method is { Name: "ForEachAsync" or "ForAsync", DeclaringType: "System.Threading.Tasks.Parallel" };

    /// <summary>True for the state machine of a loop's worker (a lambda of a closure class nested in <see cref="Parallel"/>).</summary>
    public static bool IsWorker(Type stateMachineType) =>
        stateMachineType.DeclaringType?.FullName?.StartsWith("System.Threading.Tasks.Parallel", StringComparison.Ordinal) ?? false;
}
