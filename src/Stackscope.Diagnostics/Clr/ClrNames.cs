using System.Text;

namespace Stackscope.Diagnostics.Clr;

/// <summary>
/// A type name as ClrMD gives it (<c>Repo&lt;System.String&gt;+&lt;Map&gt;d__0&lt;System.Int32&gt;</c>), parsed: its nested
/// segments, each with its generic arguments. Turns it into the definition name reflection uses
/// (<c>Repo`1+&lt;Map&gt;d__0`1</c>) and lists the arguments in the order a closed type takes them (outer type's first).
/// </summary>
/// <remarks>
/// A compiler-generated name starts with its own angle brackets (<c>&lt;Map&gt;d__0</c>, <c>&lt;&lt;Main&gt;$&gt;d__0</c>); only a
/// bracket after the start of a segment's name opens its generic arguments.
/// </remarks>
internal sealed class ClrName
{
    private ClrName(string text, string definition, IReadOnlyList<ClrName> arguments, string arraySuffix)
    {
        Text = text;
        Definition = definition;
        Arguments = arguments;
        ArraySuffix = arraySuffix;
    }

    /// <summary>The name as ClrMD wrote it.</summary>
    public string Text { get; }

    /// <summary>The generic definition's full name, nested types joined by '+' (<c>System.Collections.Generic.List`1</c>).</summary>
    public string Definition { get; }

    /// <summary>The generic arguments of every segment, outer segments' first.</summary>
    public IReadOnlyList<ClrName> Arguments { get; }

    /// <summary>"[]" (or "[,]", ...) for an array of the type; empty otherwise.</summary>
    public string ArraySuffix { get; }

    /// <summary>The simple name of the innermost segment, generic arity included (<c>AsyncOperation`1</c>).</summary>
    public string SimpleName
    {
        get
        {
            int plus = Definition.LastIndexOf('+');
            string last = plus >= 0 ? Definition[(plus + 1)..] : Definition;
            int dot = plus >= 0 ? -1 : LastDotOutsideBrackets(last);
            return dot >= 0 ? last[(dot + 1)..] : last;
        }
    }

    /// <summary>Parses a ClrMD type name; null if it is not one.</summary>
    public static ClrName? Parse(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }
        int position = 0;
        try
        {
            ClrName parsed = ParseName(name, ref position);
            return position == name.Length ? parsed : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    /// <summary>The definition name of a ClrMD type name (the name itself when it cannot be parsed).</summary>
    public static string DefinitionOf(string? name) => Parse(name)?.Definition ?? name ?? string.Empty;

    private static ClrName ParseName(string text, ref int i)
    {
        int begin = i;
        var definition = new StringBuilder();
        var arguments = new List<ClrName>();
        while (true)
        {
            // One segment: its name (a leading <...> belongs to it), then optional <arguments>.
            int start = i;
            if (i < text.Length && text[i] == '<')
            {
                SkipBracketed(text, ref i);
            }
            while (i < text.Length && text[i] is not ('<' or '+' or ',' or '>' or '['))
            {
                i++;
            }
            definition.Append(text, start, i - start);
            int arity = 0;
            if (i < text.Length && text[i] == '<')
            {
                i++;
                while (true)
                {
                    SkipSpaces(text, ref i);
                    arguments.Add(ParseName(text, ref i));
                    arity++;
                    SkipSpaces(text, ref i);
                    if (i < text.Length && text[i] == ',')
                    {
                        i++;
                        continue;
                    }
                    if (i < text.Length && text[i] == '>')
                    {
                        i++;
                        break;
                    }
                    throw new FormatException();
                }
                definition.Append('`').Append(arity);
            }
            if (i < text.Length && text[i] == '+')
            {
                definition.Append('+');
                i++;
                continue;
            }
            break;
        }
        string array = string.Empty;
        while (i < text.Length && text[i] == '[')
        {
            int close = text.IndexOf(']', i);
            if (close < 0)
            {
                throw new FormatException();
            }
            array += text[i..(close + 1)];
            i = close + 1;
        }
        return new ClrName(text[begin..i], definition.ToString(), arguments, array);
    }

    private static void SkipBracketed(string text, ref int i)
    {
        int depth = 0;
        do
        {
            if (text[i] == '<')
            {
                depth++;
            }
            else if (text[i] == '>')
            {
                depth--;
            }
            i++;
        }
        while (i < text.Length && depth > 0);
        if (depth != 0)
        {
            throw new FormatException();
        }
    }

    private static void SkipSpaces(string text, ref int i)
    {
        while (i < text.Length && text[i] == ' ')
        {
            i++;
        }
    }

    private static int LastDotOutsideBrackets(string segment)
    {
        int depth = 0;
        for (int i = segment.Length - 1; i >= 0; i--)
        {
            char c = segment[i];
            if (c == '>')
            {
                depth++;
            }
            else if (c == '<')
            {
                depth--;
            }
            else if (c == '.' && depth == 0)
            {
                return i;
            }
        }
        return -1;
    }
}
