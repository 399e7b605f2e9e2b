using System.Text;

namespace Stackscope.Monitoring;

/// <summary>
/// A <see cref="LogicalStack"/> in the form tools that only know .NET's own types accept (error trackers, log sinks
/// printing <see cref="Exception.ToString"/>): an exception whose stack trace is the logical frames, outermost caller
/// last as .NET writes a trace, each with its method and, where known, file and line
/// (<c>   at Shop.OrderGrain.PlaceAsync(Order order) in /src/OrderGrain.cs:line 42</c>). Never thrown by Stackscope.
/// </summary>
public sealed class LogicalStackException : Exception
{
    private readonly string _trace;

    /// <summary>An exception carrying <paramref name="stack"/>, with <paramref name="message"/> (by default, what its leaf waits for).</summary>
    /// <param name="stack">The logical stack.</param>
    /// <param name="message">The message; null for "waiting on &lt;leaf&gt;".</param>
    /// <param name="inner">An exception this one explains (a timeout), or null.</param>
    public LogicalStackException(LogicalStack stack, string? message = null, Exception? inner = null)
        : base(message ?? DefaultMessage(stack), inner)
    {
        Stack = stack ?? throw new ArgumentNullException(nameof(stack));
        _trace = Trace(stack);
    }

    /// <summary>The logical stack.</summary>
    public LogicalStack Stack { get; }

    /// <summary>The logical frames as a .NET stack trace: innermost first, one <c>   at ...</c> line each.</summary>
    public override string StackTrace => _trace;

    private static string DefaultMessage(LogicalStack? stack) =>
        stack?.Leaf is { } leaf ? "waiting on " + leaf.Description : "a logical stack";

    /// <summary>The frames as .NET writes a trace: innermost first; combinator frames (WhenAll, an Ask) keep their own wording.</summary>
    internal static string Trace(LogicalStack stack)
    {
        var text = new StringBuilder();
        for (int i = stack.Frames.Count - 1; i >= 0; i--)
        {
            LogicalFrame frame = stack.Frames[i];
            if (text.Length > 0)
            {
                text.Append(Environment.NewLine);
            }
            text.Append("   at ").Append(Name(frame));
            if (frame.Location is { } location)
            {
                text.Append(" in ").Append(location.FilePath).Append(":line ").Append(location.Line);
            }
        }
        return text.ToString();
    }

    /// <summary><c>Namespace.Type.Method(parameters)</c> as .NET writes it, from the frame's display name when it has a method.</summary>
    private static string Name(LogicalFrame frame)
    {
        if (frame.DeclaringTypeName is not { } type || frame.MethodName is not { } method)
        {
            return frame.DisplayName;
        }
        int open = frame.DisplayName.IndexOf('(');
        if (method.StartsWith('<') || type.Contains('<'))
        {
            // A lambda or local function: its compiler name says nothing, its display name ("async Task Stock..ctor(Gate gate)+(Reserve
            // reserve) => { }") names the method it is in. That, after the keywords, under the outer type's namespace.
            string shown = open > 0 ? frame.DisplayName[(frame.DisplayName.LastIndexOf(' ', open - 1) + 1)..] : frame.DisplayName;
            string outer = type.Split('+')[0];
            int dot = outer.LastIndexOf('.');
            return dot > 0 ? outer[..(dot + 1)] + shown : shown;
        }
        // The display name reads "async Task<int> Type.Method(int x)": its parameter list is what .NET writes too.
        string parameters = open >= 0 ? frame.DisplayName[open..] : "()";
        return $"{type.Replace('+', '.')}.{method}{parameters}";
    }
}
