using System.Text;
using Hangfire.Dashboard;
using Stackscope.Glue;
using Stackscope.Hangfire.Inspection;

namespace Stackscope.Hangfire.Dashboard;

/// <summary>
/// The "Stacks" page of Hangfire's dashboard (<c>{dashboard}/stackscope</c>): every job this process is performing,
/// stuck ones marked, each with its stack. Served by the dashboard itself, so the dashboard's authorization applies.
/// </summary>
internal sealed class StackscopeDashboardPage(Func<JobDumpOptions> options) : IDashboardDispatcher
{
    public async Task Dispatch(DashboardContext context)
    {
        JobsDump dump = JobScan.Read(options());
        context.Response.ContentType = "text/html; charset=utf-8";
        await context.Response.WriteAsync(Render(dump));
    }

    internal static string Render(JobsDump dump)
    {
        var html = new StringBuilder();
        html.Append("<div class=\"ss-summary\">").Append(GlueHtml.Encode(JobsFormatter.Summary(dump))).Append("</div>");
        foreach (string error in dump.Errors)
        {
            html.Append("<div class=\"ss-error\">").Append(GlueHtml.Encode(error)).Append("</div>");
        }
        foreach (ProcessingJob job in dump.Jobs.OrderByDescending(static j => j.IsStuck))
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
        return GlueHtml.Page("processing jobs", html.ToString());
    }
}
