namespace Stackscope.Akka;

/// <summary>What <see cref="StackscopeAkka.UseStackscope"/> turns on, and what it costs (the same style as the Orleans and Hangfire glues' options).</summary>
public sealed class StackscopeAkkaOptions
{
    /// <summary>
    /// Turn on <see cref="TaskTracking"/> (process-wide, <see cref="TaskTrackingMode.Registry"/>), so that every busy actor's
    /// async handler is found, not only the ones awaiting an Ask. It costs per async operation (docs/performance.md);
    /// off by default, when nothing runs per message.
    /// </summary>
    public bool TrackHandlers { get; set; }
}
