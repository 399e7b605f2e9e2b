using System.Text;
using Hangfire.Dashboard;
using Stackscope.Glue;

namespace Stackscope.Hangfire.Dashboard;

/// <summary>
/// A processing job's own details page shows what it is doing: its server is read through the storage (within the read
/// bound) and the job's stack rendered as on the Stacks page. Other jobs' pages get nothing from Stackscope.
/// </summary>
internal static class JobDetailsStack
{
    public static NonEscapedString Render(JobDetailsRendererDto dto)
    {
        try
        {
            if (dto.JobDetails?.History is not { Count: > 0 } history || history[0].StateName != "Processing")
            {
                return new NonEscapedString(string.Empty);
            }
            HangfireStacks stacks = StackscopeHangfire.ReadAllServersAsync(dto.Page.Storage).GetAwaiter().GetResult();
            var html = new StringBuilder("<div class=\"ss-jobpage\"><style>").Append(GlueHtml.Stylesheet.Replace("body {", ".ss-jobpage {", StringComparison.Ordinal)).Append("</style><h3>What it is doing (Stackscope)</h3>");
            ProcessingJob[] executions = stacks.Jobs.Where(j => j.JobId == dto.JobId).ToArray();
            foreach (ProcessingJob job in executions)
            {
                StackscopeDashboardPage.AppendJob(html, job);
            }
            if (executions.Length == 0)
            {
                string server = history[0].Data is { } data && data.TryGetValue("ServerId", out string? id) ? id : "?";
                ServerStacks? answer = stacks.Servers.FirstOrDefault(s => s.ServerId == server);
                html.Append("<div class=\"ss-note\">").Append(GlueHtml.Encode(answer?.Note
                    ?? $"its server {server} did not list it (it may have just finished){(stacks.Errors.Count > 0 ? ": " + string.Join("; ", stacks.Errors) : "")}")).Append("</div>");
            }
            return new NonEscapedString(html.Append("</div>").ToString());
        }
        catch (Exception e)
        {
            return new NonEscapedString("<div class=\"ss-error\">" + GlueHtml.Encode($"Stackscope could not read this job's server: {e.GetType().Name}") + "</div>");
        }
    }
}
