using Stackscope.Glue;
using System.Net;
using System.Text;
using Hangfire.Dashboard;
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
        html.Append("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Stackscope — processing jobs</title><style>")
            .Append("body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2330}h1{font-size:20px}.job{border:1px solid #dde2ea;border-radius:6px;padding:8px 12px;margin:10px 0}")
            .Append(".stuck{border-color:#e5a0a0;background:#fff6f6}.meta{color:#5a6372}.blocked{color:#b0412e;font-weight:600}pre{font:13px ui-monospace,monospace;margin:6px 0;white-space:pre-wrap}")
            .Append("</style></head><body><h1>Processing jobs</h1>");
        html.Append("<p class=\"meta\">").Append(E($"{dump.Jobs.Count} job(s) processing in this process, {dump.Stuck.Count()} stuck (≥ {GlueText.Duration(dump.Threshold)})")).Append("</p>");
        foreach (string error in dump.Errors)
        {
            html.Append("<p class=\"blocked\">").Append(E(error)).Append("</p>");
        }
        foreach (ProcessingJob job in dump.Jobs)
        {
            bool stuck = job.Elapsed >= dump.Threshold;
            html.Append(stuck ? "<div class=\"job stuck\">" : "<div class=\"job\">")
                .Append("<b>").Append(E($"job {job.JobId}")).Append("</b> ").Append(E($"{job.Method}({job.Arguments})"))
                .Append(stuck ? " <span class=\"blocked\">STUCK</span>" : "")
                .Append("<div class=\"meta\">").Append(E($"{(job.IsAsync ? "async" : "sync")}, running {GlueText.Duration(job.Elapsed)} on {job.ThreadName ?? "thread"} #{job.ThreadId}, server {job.ServerId}")).Append("</div>");
            if (job.BlockedBy is { } blockedBy)
            {
                html.Append("<div class=\"blocked\">").Append(E("Blocked: " + blockedBy)).Append("</div>");
            }
            if (job.Note is { } note)
            {
                html.Append("<div class=\"meta\">").Append(E(note)).Append("</div>");
            }
            if (job.Stack is { } stack)
            {
                html.Append("<pre>").Append(E(stack.ToString())).Append("</pre>");
            }
            html.Append("</div>");
        }
        return html.Append("</body></html>").ToString();
    }

    private static string E(string text) => WebUtility.HtmlEncode(text);
}
