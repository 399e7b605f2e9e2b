namespace Stackscope.Monitoring;

/// <summary>What a <see cref="StuckWorkMonitor"/> reports and how often. The defaults log nothing for work shorter than 30 s.</summary>
public sealed class StackscopeMonitorOptions
{
    /// <summary>Work running at least this long is stuck (default 30 s; at most <see cref="StuckRule.MaxThreshold"/>).</summary>
    public TimeSpan Threshold { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How often the sources are read (default 5 s; at least 100 ms).</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// After the first warning about an operation, the next comes this much later (default 1 min), each one after twice
    /// the previous interval, up to <see cref="MaxRepeatInterval"/>, while it stays stuck.
    /// </summary>
    public TimeSpan FirstRepeatAfter { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>The longest interval between two warnings about one operation (default 1 h).</summary>
    public TimeSpan MaxRepeatInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>
    /// At most this many warnings a minute (default 30); the others wait for the next poll with room, and the number held
    /// back is logged once room comes back.
    /// </summary>
    public int MaxWarningsPerMinute { get; set; } = 30;

    /// <summary>Whether each warning carries the stack's JSON (schema <c>stackscope/1</c>) as the structured property <c>StuckStackJson</c> (default true).</summary>
    public bool IncludeStackJson { get; set; } = true;

    /// <summary>The options checked: a bad value is an <see cref="ArgumentOutOfRangeException"/> naming it, at start, not at 3 a.m.</summary>
    internal StackscopeMonitorOptions Validated()
    {
        if (Threshold < TimeSpan.Zero || Threshold > StuckRule.MaxThreshold)
        {
            throw new ArgumentOutOfRangeException(nameof(Threshold), Threshold, $"the threshold is between 0 and {StuckRule.MaxThreshold}");
        }
        if (PollInterval < TimeSpan.FromMilliseconds(100) || PollInterval > TimeSpan.FromHours(1))
        {
            throw new ArgumentOutOfRangeException(nameof(PollInterval), PollInterval, "the poll interval is between 100 ms and 1 h");
        }
        if (FirstRepeatAfter <= TimeSpan.Zero || MaxRepeatInterval < FirstRepeatAfter)
        {
            throw new ArgumentOutOfRangeException(nameof(FirstRepeatAfter), FirstRepeatAfter, "the first repeat is after a positive time, at most MaxRepeatInterval");
        }
        if (MaxWarningsPerMinute < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxWarningsPerMinute), MaxWarningsPerMinute, "at least one warning a minute");
        }
        return this;
    }
}
