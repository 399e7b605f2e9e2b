using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace Stackscope.Monitoring;

/// <summary>
/// Async operations a program chose to watch (<see cref="Watch"/>): each is reported with its logical stack while it runs
/// past the monitor's threshold. Kept weakly (a watched task that is dropped is forgotten); costs a table entry per watch.
/// </summary>
public sealed class WatchedTasks : IStuckWorkSource
{
    private readonly ConditionalWeakTable<Task, Watched> _watched = new();
    private readonly TimeProvider _time;

    /// <summary>A set of watched tasks on the system clock.</summary>
    public WatchedTasks() : this(TimeProvider.System)
    {
    }

    /// <summary>A set of watched tasks on <paramref name="time"/>.</summary>
    /// <param name="time">The clock elapsed times are read from.</param>
    public WatchedTasks(TimeProvider time) => _time = time ?? throw new ArgumentNullException(nameof(time));

    /// <summary>
    /// Watches <paramref name="task"/>, named <paramref name="what"/>, from now: the monitor reports it while it runs past
    /// its threshold, with its stack (extracted down from the task; its callers with <see cref="TaskTracking"/> on), and
    /// adds its event to <see cref="Activity.Current"/> of the caller, if any.
    /// </summary>
    /// <param name="task">The operation.</param>
    /// <param name="what">What it is, for the log (no argument values: what the program passes is written as given).</param>
    /// <returns>The same task.</returns>
    public Task Watch(Task task, string what)
    {
        ArgumentNullException.ThrowIfNull(task);
        ArgumentNullException.ThrowIfNull(what);
        if (!task.IsCompleted)
        {
            _watched.AddOrUpdate(task, new Watched(what, _time.GetTimestamp(), Activity.Current));
        }
        return task;
    }

    /// <inheritdoc />
    public IEnumerable<StuckWork> Read(TimeSpan threshold)
    {
        var stuck = new List<StuckWork>();
        foreach ((Task task, Watched watch) in _watched)
        {
            if (task.IsCompleted)
            {
                continue;
            }
            TimeSpan elapsed = _time.GetElapsedTime(watch.Started);
            if (elapsed >= threshold)
            {
                stuck.Add(new StuckWork("task", $"task {task.Id}", watch.What, elapsed)
                {
                    Stack = StackExtractor.Extract(task, ExtractOptions.Default with { IncludeAwaitedBy = false }),
                    Activity = watch.Activity,
                });
            }
        }
        return stuck;
    }

    private sealed record Watched(string What, long Started, Activity? Activity);
}
