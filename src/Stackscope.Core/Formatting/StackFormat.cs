namespace Stackscope;

/// <summary>The output formats of <see cref="StackFormatter"/>.</summary>
public enum StackFormat
{
    /// <summary>A tree drawn with box-drawing characters, outermost frame first, as Python's stackscope prints.</summary>
    Tree,

    /// <summary>The same tree drawn with ASCII characters only, for logs and consoles that mangle Unicode.</summary>
    Ascii,

    /// <summary>
    /// Innermost frame first, one <c>   at ...</c> line per frame, reading like a .NET exception's stack trace:
    /// <c>   at async Task Foo.BarAsync() in /src/Foo.cs:line 42</c>.
    /// </summary>
    Flat,

    /// <summary>JSON in the stable schema documented in docs/json-schema.md (<c>"schema": "stackscope/1"</c>).</summary>
    Json,
}
