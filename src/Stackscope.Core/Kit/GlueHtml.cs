using System.Net;
using System.Text;

namespace Stackscope.Glue;

/// <summary>
/// The HTML every glue's page is made of: one escaping rule, one stylesheet, a page shell, and one rendering of a
/// <see cref="LogicalStack"/> — its frames with their await lines, the resources each holds, the stacks glue linked to
/// them, its leaf, its branches and the callers awaiting it, each nested part expandable (<c>&lt;details&gt;</c>). No
/// scripts and no external resources: a page works offline and under a strict Content-Security-Policy.
/// </summary>
public static class GlueHtml
{
    /// <summary>The stylesheet of <see cref="Page"/>; the classes <see cref="AppendStack"/> writes start with <c>ss-</c>.</summary>
    public const string Stylesheet = """
        body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2330; background: #fafbfc; }
        h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 18px 0 6px; }
        .ss-summary { color: #5a6372; margin-bottom: 16px; }
        .ss-deadlock { background: #fde8e8; border: 1px solid #e5a0a0; padding: 8px 12px; border-radius: 6px; margin-bottom: 12px; font-weight: 600; }
        .ss-error { color: #b0412e; }
        .ss-item { background: #fff; border: 1px solid #dde2ea; border-radius: 6px; padding: 6px 10px; margin: 8px 0; }
        .ss-item.ss-stuck { border-color: #e5a0a0; background: #fff8f8; }
        details > summary { cursor: pointer; }
        .ss-item details, .ss-stack details { margin-left: 18px; border-left: 3px solid #7aa2e3; padding-left: 8px; }
        .ss-title { font-weight: 600; } .ss-place { color: #7a5ab8; } .ss-meta { color: #5a6372; }
        .ss-elapsed { color: #b0412e; font-weight: 600; } .ss-queued { color: #a86b00; font-weight: 600; }
        .ss-note { color: #8a5a00; } .ss-blocked { color: #b0412e; font-weight: 600; }
        .ss-stack { font-family: ui-monospace, monospace; font-size: 13px; margin: 6px 0; }
        ol.ss-frames { margin: 0; padding-left: 24px; }
        .ss-loc { color: #5a6372; } .ss-state { color: #2c5aa0; }
        ul.ss-resources { margin: 2px 0; padding-left: 18px; list-style: none; color: #39424f; }
        .ss-leaf { color: #2c5aa0; margin: 2px 0 2px 6px; }
        .ss-junction { color: #7a5ab8; list-style: none; }
        """;

    /// <summary>Escapes text for HTML content and attribute values: every piece of text a page shows goes through here.</summary>
    /// <param name="text">The text; null is empty.</param>
    public static string Encode(string? text) => WebUtility.HtmlEncode(text ?? string.Empty);

    /// <summary>A whole page: <paramref name="title"/> (escaped) as its title and heading, the stylesheet, and <paramref name="bodyHtml"/> (already HTML).</summary>
    /// <param name="title">The page's title, as text.</param>
    /// <param name="bodyHtml">The body's HTML, built with <see cref="Encode"/> and <see cref="AppendStack"/>.</param>
    public static string Page(string title, string bodyHtml) =>
        new StringBuilder()
            .Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Stackscope — ").Append(Encode(title))
            .Append("</title><style>").Append(Stylesheet).Append("</style></head><body><h1>").Append(Encode(title)).Append("</h1>")
            .Append(bodyHtml).Append("</body></html>").ToString();

    /// <summary>Appends <paramref name="stack"/>: frames outermost first, each with its location, state, resources and links; then the leaf, branches, errors and callers.</summary>
    /// <param name="html">Where to append.</param>
    /// <param name="stack">The stack.</param>
    public static StringBuilder AppendStack(StringBuilder html, LogicalStack stack)
    {
        ArgumentNullException.ThrowIfNull(html);
        ArgumentNullException.ThrowIfNull(stack);
        AppendStackAt(html, stack, depth: 0);
        return html;
    }

    private const int MaxDepth = 64; // linked stacks nest; a page stays readable (and finite) below this

    private static void AppendStackAt(StringBuilder html, LogicalStack stack, int depth)
    {
        html.Append("<div class=\"ss-stack\">");
        if (depth > MaxDepth)
        {
            html.Append("<div class=\"ss-note\">… nested too deeply to show</div></div>");
            return;
        }
        if (stack.Frames.Count > 0)
        {
            html.Append("<ol class=\"ss-frames\">");
            foreach (LogicalFrame frame in stack.Frames)
            {
                if ((frame.Flags & FrameFlags.AsyncJunction) != 0)
                {
                    html.Append("<li class=\"ss-junction\">async junction: the frames above await the method below, which this thread resumed</li>");
                }
                html.Append("<li>").Append(Encode(frame.DisplayName));
                if (frame.Location is { } l)
                {
                    html.Append(" <span class=\"ss-loc\">in ").Append(Encode(l.FileName)).Append(":line ").Append(l.Line).Append("</span>");
                }
                if (StackFormatter.StateText(frame) is { } state)
                {
                    html.Append(" <span class=\"ss-state\">· ").Append(Encode(state)).Append("</span>");
                }
                if (frame.Resources.Count > 0)
                {
                    html.Append("<ul class=\"ss-resources\">");
                    foreach (HeldResource resource in frame.Resources)
                    {
                        html.Append("<li>◆ ").Append(resource.IsAsync ? "await using " : "using ").Append(Encode(resource.TypeName));
                        if (resource.Name is not null)
                        {
                            html.Append(' ').Append(Encode(resource.Name));
                        }
                        if (resource.Location is { } rl)
                        {
                            html.Append(" <span class=\"ss-loc\">(").Append(Encode(rl.FileName)).Append(":line ").Append(rl.Line).Append(")</span>");
                        }
                        if (resource.Description is not null)
                        {
                            html.Append(": ").Append(Encode(resource.Description));
                        }
                        if (resource.InnerStack is { } inner)
                        {
                            Nested(html, "its stack", inner, depth);
                        }
                        html.Append("</li>");
                    }
                    html.Append("</ul>");
                }
                foreach (LinkedStack link in frame.Links)
                {
                    Nested(html, "↪ " + link.Label, link.Stack, depth);
                }
                html.Append("</li>");
            }
            html.Append("</ol>");
        }
        if (stack.Leaf is { } leaf)
        {
            html.Append("<div class=\"ss-leaf\">waits on ").Append(Encode(leaf.Description)).Append("</div>");
        }
        for (int i = 0; i < stack.Children.Count; i++)
        {
            Nested(html, $"child {i + 1} of {stack.Children.Count}", stack.Children[i], depth);
        }
        foreach (StackError error in stack.Errors)
        {
            html.Append("<div class=\"ss-error\">‼ ").Append(Encode(error.ToString())).Append("</div>");
        }
        for (int i = 0; i < stack.AwaitedBy.Count; i++)
        {
            Nested(html, $"awaited by caller {i + 1} of {stack.AwaitedBy.Count}", stack.AwaitedBy[i], depth);
        }
        html.Append("</div>");
    }

    private static void Nested(StringBuilder html, string summary, LogicalStack stack, int depth)
    {
        html.Append("<details open><summary>").Append(Encode(summary)).Append("</summary>");
        AppendStackAt(html, stack, depth + 1);
        html.Append("</details>");
    }
}
