using System.Text;

namespace Stackscope;

/// <summary>Renders <see cref="LogicalStack"/>s as text or JSON.</summary>
public static class StackFormatter
{
    /// <summary>Renders <paramref name="stack"/> in <paramref name="format"/>.</summary>
    /// <param name="stack">The stack to render.</param>
    /// <param name="format">The format.</param>
    public static string Format(LogicalStack stack, StackFormat format)
    {
        ArgumentNullException.ThrowIfNull(stack);
        switch (format)
        {
            case StackFormat.Json:
                return JsonStackWriter.Write(stack);
            case StackFormat.Flat:
                var flat = new StringBuilder();
                WriteFlat(flat, stack);
                return flat.ToString();
            default:
                var tree = new StringBuilder();
                WriteTree(tree, stack, format == StackFormat.Ascii ? Glyphs.Ascii : Glyphs.Box, string.Empty);
                return format == StackFormat.Ascii ? AsciiOnly(tree.ToString()) : tree.ToString();
        }
    }

    /// <summary>
    /// <paramref name="text"/> with every character outside ASCII escaped as C# writes it: <c>\u00E9</c> for é,
    /// <c>\U0001F600</c> for a character outside the Basic Multilingual Plane. What <see cref="StackFormat.Ascii"/>
    /// prints (stacks, forests, snapshots) goes through this, so identifiers, names and descriptions are escaped alike.
    /// </summary>
    internal static string AsciiOnly(string text)
    {
        int first = 0;
        while (first < text.Length && text[first] < 128)
        {
            first++;
        }
        if (first == text.Length)
        {
            return text;
        }
        var sb = new StringBuilder(text.Length + 16).Append(text, 0, first);
        for (int i = first; i < text.Length; i++)
        {
            char c = text[i];
            if (c < 128)
            {
                sb.Append(c);
            }
            else if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                sb.Append("\\U").Append(char.ConvertToUtf32(c, text[++i]).ToString("X8", System.Globalization.CultureInfo.InvariantCulture));
            }
            else
            {
                sb.Append("\\u").Append(((int)c).ToString("X4", System.Globalization.CultureInfo.InvariantCulture));
            }
        }
        return sb.ToString();
    }

    private sealed record Glyphs(string Frame, string Last, string Wait, string Pipe, string Branch, string LastBranch, string Junction,
        string Error, string State, string Resource, string Link)
    {
        public static readonly Glyphs Box = new("├ ", "└ ", "⧗ ", "│ ", "├─┬ ", "└─┬ ", "╞═ ", "‼ ", " · ", "◆ ", "↪ ");
        public static readonly Glyphs Ascii = new("|- ", "`- ", "(waiting) ", "|  ", "|-+ ", "`-+ ", "|= ", "!! ", " - ", "* ", "-> ");
        public static readonly Glyphs Flat = Ascii with { State = " [" };
    }

    private static void WriteTree(StringBuilder sb, LogicalStack stack, Glyphs g, string indent)
    {
        int lines = stack.Frames.Count + (stack.Leaf is null ? 0 : 1);
        if (lines == 0)
        {
            sb.Append(indent).Append(g.Last).Append("(no frames)").AppendLine();
        }
        int line = 0;
        foreach (LogicalFrame frame in stack.Frames)
        {
            if ((frame.Flags & FrameFlags.AsyncJunction) != 0)
            {
                sb.Append(indent).Append(g.Junction).Append("async junction: the frames above await the method below, which this thread resumed").AppendLine();
            }
            bool last = ++line == lines;
            sb.Append(indent).Append(last ? g.Last : g.Frame);
            AppendFrame(sb, frame, g);
            sb.AppendLine();
            string inner = indent + (last ? "  " : g.Pipe);
            foreach (HeldResource resource in frame.Resources)
            {
                sb.Append(inner).Append(g.Resource);
                AppendResource(sb, resource, g);
                sb.AppendLine();
                if (resource.InnerStack is { } stackOfResource)
                {
                    WriteTree(sb, stackOfResource, g, inner + "    ");
                }
            }
            foreach (LinkedStack link in frame.Links)
            {
                sb.Append(inner).Append(g.Link).Append(link.Label).AppendLine();
                WriteTree(sb, link.Stack, g, inner + "    ");
            }
        }
        if (stack.Leaf is { } leaf)
        {
            sb.Append(indent).Append(g.Last).Append(g.Wait).Append(leaf.Description).AppendLine();
        }
        for (int i = 0; i < stack.Children.Count; i++)
        {
            bool lastChild = i == stack.Children.Count - 1;
            sb.Append(indent).Append("  ").Append(lastChild ? g.LastBranch : g.Branch).Append("child ").Append(i + 1).Append(" of ").Append(stack.Children.Count).AppendLine();
            WriteTree(sb, stack.Children[i], g, indent + "  " + (lastChild ? "  " : g.Pipe));
        }
        foreach (StackError error in stack.Errors)
        {
            sb.Append(indent).Append("  ").Append(g.Error).Append(error).AppendLine();
        }
        if (stack.AwaitedBy.Count > 0)
        {
            sb.Append(indent).Append("awaited by ").Append(stack.AwaitedBy.Count).Append(" callers:").AppendLine();
            for (int i = 0; i < stack.AwaitedBy.Count; i++)
            {
                bool last = i == stack.AwaitedBy.Count - 1;
                sb.Append(indent).Append(last ? g.LastBranch : g.Branch).Append("caller ").Append(i + 1).Append(" of ").Append(stack.AwaitedBy.Count).AppendLine();
                WriteTree(sb, stack.AwaitedBy[i], g, indent + (last ? "  " : g.Pipe));
            }
        }
    }

    private static void AppendResource(StringBuilder sb, HeldResource resource, Glyphs g)
    {
        sb.Append(resource.IsAsync ? "await using " : "using ").Append(resource.TypeName);
        if (resource.Name is not null)
        {
            sb.Append(' ').Append(resource.Name);
        }
        if (resource.Location is { } l)
        {
            sb.Append(" (").Append(g == Glyphs.Flat ? l.FilePath : l.FileName).Append(":line ").Append(l.Line).Append(')');
        }
        if (resource.Description is not null)
        {
            sb.Append(": ").Append(resource.Description);
        }
    }

    private static void WriteFlat(StringBuilder sb, LogicalStack stack)
    {
        if (stack.Leaf is { } leaf)
        {
            sb.Append("   waiting on ").Append(leaf.Description).AppendLine();
        }
        for (int i = 0; i < stack.Children.Count; i++)
        {
            sb.Append("   --- child ").Append(i + 1).Append(" of ").Append(stack.Children.Count).Append(" ---").AppendLine();
            WriteFlat(sb, stack.Children[i]);
        }
        if (stack.Children.Count > 0)
        {
            sb.Append("   --- end of children ---").AppendLine();
        }
        for (int i = stack.Frames.Count - 1; i >= 0; i--)
        {
            LogicalFrame frame = stack.Frames[i];
            sb.Append("   at ");
            AppendFrame(sb, frame, Glyphs.Flat);
            sb.AppendLine();
            foreach (HeldResource resource in frame.Resources)
            {
                sb.Append("      holding ");
                AppendResource(sb, resource, Glyphs.Flat);
                sb.AppendLine();
            }
            foreach (LinkedStack link in frame.Links)
            {
                sb.Append("   --- ").Append(link.Label).Append(" ---").AppendLine();
                WriteFlat(sb, link.Stack);
                sb.Append("   --- end of ").Append(link.Label).Append(" ---").AppendLine();
            }
            if ((frame.Flags & FrameFlags.AsyncJunction) != 0 && i > 0)
            {
                sb.Append("   --- async junction: awaited by ---").AppendLine();
            }
        }
        foreach (StackError error in stack.Errors)
        {
            sb.Append("   !! ").Append(error).AppendLine();
        }
        for (int i = 0; i < stack.AwaitedBy.Count; i++)
        {
            sb.Append("   --- awaited by (").Append(i + 1).Append(" of ").Append(stack.AwaitedBy.Count).Append(") ---").AppendLine();
            WriteFlat(sb, stack.AwaitedBy[i]);
        }
    }

    private static void AppendFrame(StringBuilder sb, LogicalFrame frame, Glyphs g)
    {
        bool shortPath = g != Glyphs.Flat;
        sb.Append(frame.DisplayName);
        if (frame.Location is { } l)
        {
            sb.Append(" in ").Append(shortPath ? l.FileName : l.FilePath).Append(":line ").Append(l.Line);
        }
        if (StateText(frame, shortPath) is { } state)
        {
            sb.Append(g.State).Append(state).Append(shortPath ? string.Empty : "]");
        }
    }

    /// <summary>What a frame's state adds to its line (<c>await #2</c>, <c>running</c>), or null; every rendering of a frame says it the same way.</summary>
    /// <param name="frame">The frame.</param>
    /// <param name="tree">True for tree renderings, which also say "suspended" and "running"; false for exception-style traces.</param>
    internal static string? StateText(LogicalFrame frame, bool tree = true) => frame.State switch
    {
        FrameState.Suspended when frame.AwaitNumber is int a => $"await #{a}",
        FrameState.Suspended when frame.YieldNumber is int y => $"yield #{y}",
        FrameState.Suspended => tree ? "suspended" : null,
        FrameState.Running => tree && frame.Kind != FrameKind.Sync ? "running" : null,
        FrameState.Completed => "completed",
        FrameState.Faulted => "faulted",
        FrameState.Canceled => "canceled",
        FrameState.NotStarted => "not started",
        _ => null,
    };
}
