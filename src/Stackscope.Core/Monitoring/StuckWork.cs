using System.Diagnostics;

namespace Stackscope.Monitoring;

/// <summary>One operation running past the monitor's threshold, as a source reports it.</summary>
/// <param name="Kind">What kind of work it is, the same for every operation of a source (<c>orleans.request</c>, <c>akka.actor</c>, <c>hangfire.job</c>, <c>task</c>).</param>
/// <param name="Key">Identifies the operation while it runs (a request's id, an actor's path and message, a job's id): the same key on every poll.</param>
/// <param name="What">One line naming it for people (<c>grain order/42 IOrderGrain.PlaceAsync</c>, <c>actor /user/stock handling Reserve</c>).</param>
/// <param name="Elapsed">How long it has been running.</param>
public sealed record StuckWork(string Kind, string Key, string What, TimeSpan Elapsed)
{
    /// <summary>Its logical stack, when the source found it.</summary>
    public LogicalStack? Stack { get; init; }

    /// <summary>Why there is no stack, or what else the source knows (Orleans' limits, a mailbox's length), or null.</summary>
    public string? Note { get; init; }

    /// <summary>The operation's own <see cref="System.Diagnostics.Activity"/> (its trace), when the source knows it: the monitor adds its event there.</summary>
    public Activity? Activity { get; init; }
}

/// <summary>
/// Where a <see cref="StuckWorkMonitor"/> finds work: each glue provides one (Orleans requests, Akka handlers and Asks,
/// Hangfire jobs), and <see cref="WatchedTasks"/> the async operations a program chooses to watch. Register one in the
/// service collection as <see cref="IStuckWorkSource"/>, or pass it to the monitor.
/// </summary>
public interface IStuckWorkSource
{
    /// <summary>
    /// The operations running for at least <paramref name="threshold"/> now, each with its stack. Called on the monitor's
    /// thread once a poll; must not block and should not throw (what it throws is logged once per poll, and the poll goes on).
    /// </summary>
    /// <param name="threshold">The monitor's threshold.</param>
    IEnumerable<StuckWork> Read(TimeSpan threshold);
}
