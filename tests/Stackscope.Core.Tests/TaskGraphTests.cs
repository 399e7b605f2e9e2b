using Stackscope.Glue;
namespace Stackscope.Tests;

/// <summary>The raw links glue uses to find roots (TaskGraph), over real suspended async methods.</summary>
public class TaskGraphTests
{
    private static readonly AsyncLocal<string?> s_marker = new();

    private static async Task<int> Outer(Task<int> gate) => await Inner(gate) + 1;

    private static async Task<int> Inner(Task<int> gate) => await gate;

    [Fact]
    public async Task ContinuationsOf_and_FindAbove_climb_from_an_awaited_task_to_its_callers()
    {
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<int> outer = Outer(gate.Task);

        TaskContinuation onGate = Assert.Single(TaskGraph.ContinuationsOf(gate.Task));
        Assert.Equal(TaskContinuationKind.AsyncMethod, onGate.Kind);
        Assert.Contains("<Inner>", onGate.Target!.GetType().GetGenericArguments()[^1].Name);
        Assert.Same(outer, TaskGraph.FindAbove(gate.Task, node => ReferenceEquals(node, outer)));
        Assert.Null(TaskGraph.FindAbove(gate.Task, static _ => false));
        // A continuation the filter does not follow is not climbed through.
        Assert.Null(TaskGraph.FindAbove(gate.Task, node => ReferenceEquals(node, outer), static _ => false));

        gate.SetResult(41);
        Assert.Equal(42, await outer);
        Assert.Empty(TaskGraph.ContinuationsOf(gate.Task));
    }

    [Fact]
    public async Task CapturedContextOf_gives_the_context_a_box_captured_with_its_AsyncLocal_values()
    {
        var gate = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        s_marker.Value = "job-7";
        Task<int> inner = Inner(gate.Task);
        s_marker.Value = null;

        object box = Assert.Single(TaskGraph.ContinuationsOf(gate.Task)).Target!;
        ExecutionContext? context = TaskGraph.CapturedContextOf(box);
        Assert.NotNull(context);
        string? seen = null;
        ExecutionContext.Run(context!, _ => seen = s_marker.Value, null);
        Assert.Equal("job-7", seen);
        Assert.Null(TaskGraph.CapturedContextOf(gate.Task)); // not an async method box

        gate.SetResult(1);
        await inner;
    }
}
