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

    /// <summary>How stacks are extracted.</summary>
    public ExtractOptions Extract { get; set; } = ExtractOptions.Default;
}
