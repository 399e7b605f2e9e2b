namespace Stackscope.Orleans;

/// <summary>What <c>AddStackscope</c> reports and what it costs.</summary>
public sealed class StackscopeOrleansOptions
{
    /// <summary>
    /// Requests running at least this long are "stuck" and listed by <see cref="IGrainStacks.GetClusterStacksAsync"/> and the
    /// admin endpoint. Default null: Orleans' own <c>SiloMessagingOptions.RequestProcessingWarningTime</c> (20 s unless
    /// configured), the time after which Orleans itself calls a request slow; the smallest when silos differ.
    /// </summary>
    public TimeSpan? StuckThreshold { get; set; }

    /// <summary>How long a cluster read waits for each silo's answer. Default 5 s; a silo that has not answered by then is listed as such.</summary>
    public TimeSpan ReadBound { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Turn on <see cref="TaskTracking"/> (process-wide, <see cref="TaskTrackingMode.Registry"/>) when the silo starts, so that
    /// requests awaiting anything (not only other grains) have stacks. It costs per async operation (docs/performance.md);
    /// off by default, when nothing at all runs per call.
    /// </summary>
    public bool TrackRequests { get; set; }

    /// <summary>
    /// Report this silo's stuck requests through the stuck-work monitor (<c>services.AddStackscopeMonitor()</c>, which
    /// <c>siloBuilder.AddStackscope</c> then calls): every request running at least the monitor's
    /// <c>StackscopeMonitorOptions.Threshold</c> (30 s by default) is logged once as a warning with its logical stack
    /// (kind <c>orleans.request</c>), again at growing intervals while it stays stuck, and once when it finishes. Each poll
    /// is one read of the silo, the same as <see cref="IGrainStacks.GetSiloStacks"/>; nothing runs per grain call.
    /// Off by default: then no source, no monitor and no hosted service are registered. Read when <c>AddStackscope</c> runs.
    /// </summary>
    /// <remarks>
    /// The monitor's threshold is its own (30 s unless set), not <c>SiloMessagingOptions.RequestProcessingWarningTime</c>
    /// (20 s by default), after which Orleans itself logs a request as slow, without its stack. With Orleans' defaults a
    /// caller gives up after <c>ResponseTimeout</c>, 30 s: a request stuck that long is reported at the first poll past 30 s
    /// (polls every 5 s), when its caller is timing out. To have the stack before the caller times out, set the threshold
    /// to Orleans' warning time: <c>services.AddStackscopeMonitor(o => o.Threshold = TimeSpan.FromSeconds(20))</c>. Every
    /// stuck request's note (<c>StuckWork.Note</c>) says where it stands against <c>RequestProcessingWarningTime</c> and
    /// <c>MaxRequestProcessingTime</c> (2 h by default; past it Orleans deactivates the activation as unresponsive).
    /// The stuck requests have no <c>StuckWork.Activity</c>: the monitor's event goes on an activity of its own.
    /// </remarks>
    public bool MonitorStuckRequests { get; set; }

    /// <summary>
    /// Make grain calls that time out explain themselves: an outgoing grain call filter catches Orleans' response
    /// <see cref="TimeoutException"/>, reads what the callee's activation was doing at that moment (the cluster read of
    /// <see cref="IGrainStacks"/>, each silo bounded by <see cref="ReadBound"/>; a second read when the first found the callee's
    /// requests without their stacks) and throws a <see cref="TimeoutException"/> whose
    /// message is Orleans' own followed by the callee's logical stack (or, for a call still queued, its position and the
    /// requests holding the activation, with theirs). Its <see cref="Exception.InnerException"/> is, on a cluster client, a
    /// <c>LogicalStackException</c> (the callee's stack as a stack trace) wrapping Orleans' original exception; on a silo,
    /// Orleans' original exception, since an exception thrown in a grain may be serialized to its caller and Orleans has no
    /// codec for <c>LogicalStackException</c>. Only the timeout of the call itself is explained: a timeout the callee threw
    /// (explained where it happened) passes through unchanged. Off by
    /// default: a call filter puts every outgoing call through Orleans' filter chain (an async step per call, measured in
    /// docs/performance.md), and <c>AddStackscope()</c> by default runs nothing per grain call. Read when <c>AddStackscope</c> runs.
    /// </summary>
    public bool ExplainTimeouts { get; set; }

    /// <summary>How stacks are extracted.</summary>
    public ExtractOptions Extract { get; set; } = ExtractOptions.Default;
}
