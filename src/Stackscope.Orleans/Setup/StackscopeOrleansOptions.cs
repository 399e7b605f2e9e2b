namespace Stackscope.Orleans;

/// <summary>What <c>AddStackscope</c> reports and what it costs.</summary>
public sealed class StackscopeOrleansOptions
{
    /// <summary>Requests running at least this long are "stuck" and listed by <see cref="IGrainStacks.GetClusterStacksAsync"/> and the admin endpoint. Default 5 s.</summary>
    public TimeSpan StuckThreshold { get; set; } = Stackscope.Glue.StuckRule.DefaultThreshold;

    /// <summary>
    /// Turn on <see cref="TaskTracking"/> (process-wide, <see cref="TaskTrackingMode.Registry"/>) when the silo starts, so that
    /// requests awaiting anything (not only other grains) have stacks. It costs per async operation (docs/performance.md);
    /// off by default, when nothing at all runs per call.
    /// </summary>
    public bool TrackRequests { get; set; }

    /// <summary>How stacks are extracted.</summary>
    public ExtractOptions Extract { get; set; } = ExtractOptions.Default;
}
