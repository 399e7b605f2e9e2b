using System.Text;
using Stackscope.Glue;
using Stackscope.Orleans.Formatting;

namespace Stackscope.Orleans.Web;

/// <summary>The admin page: the kit's page (no scripts, no external resources) with one expandable tree per stuck call chain.</summary>
internal static class StacksPage
{
    public static string Render(ClusterStacks stacks)
    {
        var html = new StringBuilder();
        html.Append("<div class=\"ss-summary\">").Append(GlueHtml.Encode(
            $"{stacks.Silos.Count} silo(s): {string.Join(", ", stacks.Silos.Select(static s => s.Answered ? s.Silo : s.Silo + " (no answer)"))} · {stacks.Silos.Sum(static s => s.ActivationCount)} activations · " +
            $"{stacks.Stuck.Count} request chain(s) running {StuckRule.Describe(stacks.Threshold)} · {stacks.Deadlocks.Count} deadlock(s)")).Append("</div>");
        foreach (Deadlock deadlock in stacks.Deadlocks)
        {
            html.Append("<div class=\"ss-deadlock\">").Append(GlueHtml.Encode(deadlock.ToString())).Append("</div>");
        }
        foreach (string error in GrainStacksFormatter.Errors(stacks))
        {
            html.Append("<div class=\"ss-error\">").Append(GlueHtml.Encode(error)).Append("</div>");
        }
        foreach (GrainCallChain chain in stacks.Stuck)
        {
            Chain(html, chain);
        }
        if (stacks.Stuck.Count == 0)
        {
            html.Append("<p>No request has been running that long.</p>");
        }
        return GlueHtml.Page("Stuck grain requests", html.ToString());
    }

    private static void Chain(StringBuilder html, GrainCallChain chain)
    {
        GrainRequest r = chain.Request;
        html.Append("<details open class=\"ss-item\"><summary><span class=\"ss-title\">").Append(GlueHtml.Encode(r.Grain)).Append("</span> ")
            .Append(GlueHtml.Encode($"[{r.GrainType}]")).Append(" on <span class=\"ss-place\">").Append(GlueHtml.Encode(r.Silo)).Append("</span>: ")
            .Append(GlueHtml.Encode(r.Method)).Append(' ');
        html.Append(r.State == GrainRequestState.Running
            ? $"<span class=\"ss-elapsed\">running {GlueHtml.Encode(GlueText.Duration(r.Elapsed))}</span>"
            : $"<span class=\"ss-queued\">queued at position {r.QueuePosition} for {GlueHtml.Encode(GlueText.Duration(r.Elapsed))}</span>");
        if (r.Caller is { } caller)
        {
            html.Append(" · called by ").Append(GlueHtml.Encode(caller));
        }
        html.Append("</summary>");
        if (r.OrleansLimits is { } limits)
        {
            html.Append("<div class=\"ss-note\">").Append(GlueHtml.Encode("Orleans: " + limits)).Append("</div>");
        }
        if (r.Stack is { } stack)
        {
            GlueHtml.AppendStack(html, stack);
        }
        else if (r.State == GrainRequestState.Waiting)
        {
            html.Append("<div class=\"ss-note\">behind the request running in ").Append(GlueHtml.Encode(r.Grain)).Append("</div>");
        }
        if (r.Note is { } note)
        {
            html.Append("<div class=\"ss-note\">").Append(GlueHtml.Encode(note)).Append("</div>");
        }
        foreach (string calleeNote in chain.Notes)
        {
            html.Append("<div class=\"ss-blocked\">").Append(GlueHtml.Encode(calleeNote)).Append("</div>");
        }
        foreach (GrainCallChain next in chain.Next)
        {
            Chain(html, next);
        }
        html.Append("</details>");
    }
}
