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
    /// The monitor's threshold is its own, not <c>SiloMessagingOptions.RequestProcessingWarningTime</c> (after which Orleans
    /// itself logs a request as slow, without its stack): set <c>AddStackscopeMonitor(o => o.Threshold = ...)</c> to Orleans'
    /// warning time to get the stack at the moment Orleans calls the request slow. Every warning's note says where the request
    /// stands against both of Orleans' limits.
    /// </remarks>
    public bool MonitorStuckRequests { get; set; }

    /// <summary>
    /// Make grain calls that time out explain themselves: an outgoing grain call filter catches Orleans' response
    /// <see cref="TimeoutException"/>, reads what the callee's activation was doing at that moment (the cluster read of
    /// <see cref="IGrainStacks"/>, bounded by <see cref="ReadBound"/>) and throws a <see cref="TimeoutException"/> whose
    /// message is Orleans' own followed by the callee's logical stack, and whose <see cref="Exception.InnerException"/> is a
    /// <c>LogicalStackException</c> (the callee's stack as a stack trace) wrapping Orleans' original exception. Off by
    /// default: a call filter puts every outgoing call through Orleans' filter chain (an async step per call, measured in
    /// docs/performance.md), and <c>AddStackscope()</c> by default runs nothing per grain call. Read when <c>AddStackscope</c> runs.
    /// </summary>
    public bool ExplainTimeouts { get; set; }

    /// <summary>How stacks are extracted.</summary>
    public ExtractOptions Extract { get; set; } = ExtractOptions.Default;
}
