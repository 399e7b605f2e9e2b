using System.Globalization;
using System.Text;

namespace Stackscope.Glue;

/// <summary>
/// The text every glue's dump is made of: elapsed times, a <see cref="LogicalStack"/> indented under a header line,
/// and error lines. One rendering, so an actor's, a grain request's and a job's stacks read the same.
/// </summary>
public static class GlueText
{
    /// <summary>
    /// An elapsed time as dumps show it: <c>850 ms</c>, <c>12.5 s</c>, <c>3 min 20 s</c>, <c>2 h 5 min</c> (invariant culture),
    /// for how long something has been busy, running or waiting. Negative times (clocks of two machines) show as 0 ms.
    /// </summary>
    /// <param name="elapsed">The time.</param>
    public static string Duration(TimeSpan elapsed) =>
        elapsed < TimeSpan.Zero ? "0 ms"
        : elapsed.TotalSeconds < 1 ? elapsed.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture) + " ms"
        : elapsed.TotalMinutes < 1 ? elapsed.TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture) + " s"
        : elapsed.TotalHours < 1 ? $"{(int)elapsed.TotalMinutes} min {elapsed.Seconds} s"
        : $"{(long)elapsed.TotalHours} h {elapsed.Minutes} min";

    /// <summary>
    /// Appends <paramref name="stack"/> as a tree (<see cref="StackFormat.Tree"/>), every line prefixed by
    /// <paramref name="indent"/>: the stack of the thing named on the line above.
    /// </summary>
    /// <param name="text">Where to append.</param>
    /// <param name="stack">The stack.</param>
    /// <param name="indent">The prefix of every line, e.g. two spaces.</param>
    /// <param name="format">The tree's glyphs: <see cref="StackFormat.Tree"/> (default) or <see cref="StackFormat.Ascii"/>.</param>
    public static StringBuilder AppendStack(StringBuilder text, LogicalStack stack, string indent, StackFormat format = StackFormat.Tree)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(stack);
        string rendered = StackFormatter.Format(stack, format == StackFormat.Ascii ? StackFormat.Ascii : StackFormat.Tree);
        foreach (string line in rendered.Split('\n'))
        {
            string trimmed = line.TrimEnd('\r');
            if (trimmed.Length > 0)
            {
                text.Append(indent).Append(trimmed).AppendLine();
            }
        }
        return text;
    }

    /// <summary>
    /// A stuck operation's stack as a log line writes it: the tree, with <paramref name="note"/> under it in parentheses;
    /// without a stack, <c>(no stack: note)</c>. The stuck-work monitor's warnings and the glues' own warnings alike.
    /// </summary>
    /// <param name="stack">The stack, or null when none was found.</param>
    /// <param name="note">Why there is no stack, or what else is known; null for nothing.</param>
    public static string StackOrWhy(LogicalStack? stack, string? note) => stack is not null
        ? stack.ToString(StackFormat.Tree).TrimEnd() + (note is null ? "" : "\n(" + note + ")")
        : "(no stack" + (note is null ? ")" : ": " + note + ")");

    /// <summary>Appends one line per error, <c>error: …</c> (with where it happened, when given), the way every dump reports what it could not read.</summary>
    /// <param name="text">Where to append.</param>
    /// <param name="errors">The errors.</param>
    /// <param name="indent">The prefix of every line.</param>
    public static StringBuilder AppendErrors(StringBuilder text, IEnumerable<string> errors, string indent = "")
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(errors);
        foreach (string error in errors)
        {
            text.Append(indent).Append("error: ").Append(error.ReplaceLineEndings(" ")).AppendLine();
        }
        return text;
    }
}
