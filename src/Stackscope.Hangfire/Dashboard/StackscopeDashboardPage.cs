using System.Text;
using Hangfire.Dashboard;
using Stackscope.Glue;
using Stackscope.Hangfire.Formatting;

namespace Stackscope.Hangfire.Dashboard;

/// <summary>
/// The "Stacks" page of Hangfire's dashboard (<c>{dashboard}/stackscope</c>): every server of the dashboard's storage,
/// read through the storage (the dashboard's process need run no server), servers with stuck jobs first, each job with
/// its stack. Served by the dashboard itself, so the dashboard's authorization applies. <c>?format=text</c> serves the
/// same as plain text.
/// </summary>
internal sealed class StackscopeDashboardPage : IDashboardDispatcher
{
    public async Task Dispatch(DashboardContext context)
    {
        HangfireStacks stacks = await StackscopeHangfire.ReadAllServersAsync(context.Storage);
        if (context.Request.GetQuery("format") == "text")
        {
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync(stacks.ToString());
            return;
        }
        context.Response.ContentType = "text/html; charset=utf-8";
        await context.Response.WriteAsync(Render(stacks));
    }

    internal static string Render(HangfireStacks stacks)
    {
        var html = new StringBuilder();
        html.Append("<div class=\"ss-summary\">").Append(GlueHtml.Encode(ClusterFormatter.Summary(stacks))).Append("</div>");
        foreach (string error in stacks.Errors)
        {
            html.Append("<div class=\"ss-error\">").Append(GlueHtml.Encode(error)).Append("</div>");
        }
        foreach (ServerStacks server in stacks.Servers)
        {
            html.Append("<h2>").Append(GlueHtml.Encode(ClusterFormatter.ServerLine(server))).Append("</h2>");
            if (server.Note is { } note)
            {
                html.Append("<div class=\"").Append(server.Answer == ServerAnswer.Answered ? "ss-note" : "ss-error").Append("\">").Append(GlueHtml.Encode(note)).Append("</div>");
            }
            if (server.Jobs is not { } dump)
            {
                continue;
            }
            foreach (string error in dump.Errors)
            {
                html.Append("<div class=\"ss-error\">").Append(GlueHtml.Encode(error)).Append("</div>");
            }
            foreach (ProcessingJob job in dump.Jobs.OrderByDescending(static j => j.IsStuck))
            {
                AppendJob(html, job);
            }
        }
        return GlueHtml.Page("Processing jobs", html.ToString());
    }

    internal static void AppendJob(StringBuilder html, ProcessingJob job)
    {
        html.Append(job.IsStuck ? "<details open class=\"ss-item ss-stuck\">" : "<details open class=\"ss-item\">")
            .Append("<summary><span class=\"ss-title\">").Append(GlueHtml.Encode(JobsFormatter.Headline(job))).Append("</span></summary>")
            .Append("<div class=\"ss-meta\">").Append(GlueHtml.Encode(JobsFormatter.Details(job))).Append("</div>");
        if (job.BlockedBy is { } blockedBy)
        {
            html.Append("<div class=\"ss-blocked\">").Append(GlueHtml.Encode("Blocked: " + blockedBy)).Append("</div>");
        }
        if (job.Note is { } note)
        {
            html.Append("<div class=\"ss-note\">").Append(GlueHtml.Encode(note)).Append("</div>");
        }
        if (job.Stack is { } stack)
        {
            GlueHtml.AppendStack(html, stack);
        }
        html.Append("</details>");
    }
}
