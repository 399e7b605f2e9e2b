using System.Globalization;

namespace Stackscope.Glue;

/// <summary>
/// When work counts as stuck: it has been running (or waiting) at least as long as a threshold. One rule for every
/// glue, so an actor, a grain request and a job past the same threshold are all stuck, and none just below it.
/// </summary>
public static class StuckRule
{
    /// <summary>The threshold used when none is configured: 5 seconds.</summary>
    public static TimeSpan DefaultThreshold { get; } = TimeSpan.FromSeconds(5);

    /// <summary>The largest threshold accepted from outside: one day (a longer one is a mistake, not a setting).</summary>
    public static TimeSpan MaxThreshold { get; } = TimeSpan.FromDays(1);

    /// <summary>Whether work that has run for <paramref name="elapsed"/> is stuck at <paramref name="threshold"/>: elapsed ≥ threshold.</summary>
    /// <param name="elapsed">How long it has been running or waiting.</param>
    /// <param name="threshold">The threshold.</param>
    public static bool IsStuck(TimeSpan elapsed, TimeSpan threshold) => elapsed >= threshold;

    /// <summary>How a dump names its threshold: <c>≥ 5.0 s</c>.</summary>
    /// <param name="threshold">The threshold.</param>
    public static string Describe(TimeSpan threshold) => "≥ " + GlueText.Duration(threshold);

    /// <summary>
    /// Reads a threshold in seconds given from outside (a query string's <c>threshold=2.5</c>, a command-line argument):
    /// a finite, non-negative decimal number, invariant culture, at most <see cref="MaxThreshold"/>. Anything else —
    /// empty, several values, <c>NaN</c>, <c>Infinity</c>, <c>-5</c>, <c>1e12</c>, <c>abc</c> — is refused with a one-line reason.
    /// </summary>
    /// <param name="values">The value(s) given; more than one is refused (a repeated query parameter).</param>
    /// <param name="threshold">The threshold read.</param>
    /// <param name="error">Why the value was refused, or null.</param>
    /// <returns>True if the value was read.</returns>
    public static bool TryParseSeconds(IReadOnlyList<string?> values, out TimeSpan threshold, out string? error)
    {
        ArgumentNullException.ThrowIfNull(values);
        threshold = default;
        if (values.Count != 1)
        {
            error = values.Count == 0 ? "threshold: no value given" : "threshold: give one value, not " + values.Count;
            return false;
        }
        string? text = values[0]?.Trim();
        if (string.IsNullOrEmpty(text))
        {
            error = "threshold: no value given";
            return false;
        }
        if (!double.TryParse(text, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent | NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out double seconds)
            || !double.IsFinite(seconds))
        {
            error = "threshold: not a number of seconds";
            return false;
        }
        if (seconds < 0)
        {
            error = "threshold: must not be negative";
            return false;
        }
        if (seconds > MaxThreshold.TotalSeconds)
        {
            error = $"threshold: at most {MaxThreshold.TotalSeconds.ToString(CultureInfo.InvariantCulture)} seconds";
            return false;
        }
        threshold = TimeSpan.FromSeconds(seconds);
        error = null;
        return true;
    }
}
