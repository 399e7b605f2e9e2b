using System.Reflection;
using Stackscope.Glue;

namespace Stackscope.Tests;

/// <summary>
/// The runtime's active-task registry (TaskTracking) while another thread holds its lock: every reader says so instead of
/// reading it as empty. A silo scanned three times at once lost every tracked stack that way, without a word.
/// </summary>
[Collection(nameof(TrackingCollection))]
public class RegistryTests
{
    private const string Busy = "the runtime's active-task registry (TaskTracking) stayed locked for 50 ms: what only it shows is missing";

    [Fact]
    public async Task A_registry_held_by_another_thread_is_said_not_read_as_empty()
    {
        using TrackingScope tracking = TrackingScope.Enable();
        var gate = new TaskCompletionSource();
        Task first = Waits(gate.Task), second = Waits(gate.Task);
        Task both = Task.WhenAll(first, second); // its children are found only through the registry
        object registry = typeof(Task).GetField("s_currentActiveTasks", BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;

        using var held = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            lock (registry)
            {
                held.Set();
                release.Wait(TimeSpan.FromSeconds(30));
            }
        });
        holder.Start();
        try
        {
            Assert.True(held.Wait(TimeSpan.FromSeconds(30)));
            Assert.False(TaskGraph.TryTrackedTasks(out IReadOnlyList<Task> none, out string? busy));
            Assert.Empty(none);
            Assert.Equal(Busy, busy);
            Assert.Equal(Busy, Assert.Single(StackExtractor.ExtractAll().Errors).Message);
            LogicalStack stack = StackExtractor.Extract(both);
            Assert.Contains(stack.Errors, static e => e.Message.StartsWith(Busy + " (children found through their continuations", StringComparison.Ordinal));
        }
        finally
        {
            release.Set();
            holder.Join();
        }

        Assert.True(TaskGraph.TryTrackedTasks(out IReadOnlyList<Task> tasks, out string? none2));
        Assert.Null(none2);
        Assert.Contains(first, tasks);
        Assert.Equal(2, StackExtractor.Extract(both).Children.Count);
        gate.SetResult();
        await both;
    }

    private static async Task Waits(Task gate) => await gate;
}
