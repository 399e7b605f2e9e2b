using Stackscope.Glue;
using System.Net;
using System.Text;
using Stackscope.Orleans.Formatting;

namespace Stackscope.Orleans.Web;

/// <summary>The admin page: a self-contained HTML document (no scripts, no external resources) with one expandable tree per stuck call chain.</summary>
internal static class StacksPage
{
    private const string Style = """
        body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d2330; background: #fafbfc; }
        h1 { font-size: 20px; margin: 0 0 4px; }
        .summary { color: #5a6372; margin-bottom: 16px; }
        .deadlock { background: #fde8e8; border: 1px solid #e5a0a0; padding: 8px 12px; border-radius: 6px; margin-bottom: 12px; font-weight: 600; }
        details { background: #fff; border: 1px solid #dde2ea; border-radius: 6px; padding: 6px 10px; margin: 8px 0; }
        details details { margin-left: 18px; border-left: 3px solid #7aa2e3; }
        summary { cursor: pointer; }
        .grain { font-weight: 600; } .silo { color: #7a5ab8; } .method { font-family: ui-monospace, monospace; }
        .elapsed { color: #b0412e; font-weight: 600; } .queued { color: #a86b00; font-weight: 600; }
        ol.frames { font-family: ui-monospace, monospace; font-size: 13px; margin: 6px 0; padding-left: 24px; }
        .loc { color: #5a6372; } .await { font-family: ui-monospace, monospace; font-size: 13px; color: #2c5aa0; margin-left: 8px; }
        .note { color: #8a5a00; margin-left: 8px; } .cycle { color: #b0412e; font-weight: 600; margin-left: 8px; }
        .errors { color: #b0412e; }
        """;

    public static string Render(ClusterStacks stacks)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Stackscope — stuck grain requests</title><style>")
            .Append(Style).Append("</style></head><body>");
        html.Append("<h1>Stuck grain requests</h1>");
        int activations = stacks.Silos.Sum(static s => s.ActivationCount);
        html.Append("<div class=\"summary\">")
            .Append(E($"{stacks.Silos.Count} silo(s): {string.Join(", ", stacks.Silos.Select(static s => s.Silo))} · {activations} activations · "))
            .Append(E($"{stacks.Stuck.Count} request chain(s) running ≥ {GlueText.Duration(stacks.Threshold)} · {stacks.Deadlocks.Count} deadlock(s)"))
            .Append("</div>");
        foreach (GrainDeadlock deadlock in stacks.Deadlocks)
        {
            html.Append("<div class=\"deadlock\">Deadlock (call cycle): ").Append(E(deadlock.ToString())).Append("</div>");
        }
        foreach (SiloStacks silo in stacks.Silos.Where(static s => s.Errors.Count > 0))
        {
            html.Append("<div class=\"errors\">").Append(E($"{silo.Silo}: {string.Join("; ", silo.Errors)}")).Append("</div>");
        }
        foreach (GrainCallChain chain in stacks.Stuck)
        {
            Chain(html, chain);
        }
        if (stacks.Stuck.Count == 0)
        {
            html.Append("<p>No request has been running that long.</p>");
        }
        return html.Append("</body></html>").ToString();
    }

    private static void Chain(StringBuilder html, GrainCallChain chain)
    {
        GrainRequest r = chain.Request;
        html.Append("<details open><summary><span class=\"grain\">").Append(E(r.Grain)).Append("</span> ")
            .Append(E($"[{r.GrainType}]")).Append(" on <span class=\"silo\">").Append(E(r.Silo)).Append("</span>: <span class=\"method\">")
            .Append(E(r.Method)).Append("</span> ");
        html.Append(r.State == GrainRequestState.Running
            ? $"<span class=\"elapsed\">running {E(GlueText.Duration(r.Elapsed))}</span>"
            : $"<span class=\"queued\">queued at position {r.QueuePosition} for {E(GlueText.Duration(r.Elapsed))}</span>");
        if (r.Caller is { } caller)
        {
            html.Append(" · called by ").Append(E(caller));
        }
        html.Append("</summary>");
        if (r.Frames.Count > 0)
        {
            html.Append("<ol class=\"frames\">");
            foreach (GrainFrame frame in r.Frames)
            {
                html.Append("<li>").Append(E(frame.Name));
                if (frame.Line is { } line)
                {
                    html.Append(" <span class=\"loc\">").Append(E($"{frame.File}:line {line}")).Append("</span>");
                }
                html.Append("</li>");
            }
            html.Append("</ol>");
        }
        if (r.AwaitedCall is { } call)
        {
            html.Append("<div class=\"await\">awaits ").Append(E($"{call.Method} on {call.TargetGrain}")).Append("</div>");
        }
        else if (r.Leaf is { } leaf)
        {
            html.Append("<div class=\"await\">waiting on ").Append(E(leaf)).Append("</div>");
        }
        else if (r.State == GrainRequestState.Waiting)
        {
            html.Append("<div class=\"await\">behind the request running in ").Append(E(r.Grain)).Append("</div>");
        }
        if (r.Note is { } note)
        {
            html.Append("<div class=\"note\">").Append(E(note)).Append("</div>");
        }
        if (chain.CalleeNote is { } calleeNote)
        {
            html.Append("<div class=\"cycle\">").Append(E(calleeNote)).Append("</div>");
        }
        if (chain.Callee is { } callee)
        {
            Chain(html, callee);
        }
        html.Append("</details>");
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
