using System.Text;
using Stackscope.Glue;

namespace Stackscope.Hangfire;

/// <summary>Renders a <see cref="JobsDump"/> as text: one block per job, its stack indented below (the kit's rendering).</summary>
internal static class JobsFormatter
{
    public static string Format(JobsDump dump)
    {
        var text = new StringBuilder();
        text.AppendLine(Summary(dump));
        GlueText.AppendErrors(text, dump.Errors);
        foreach (ProcessingJob job in dump.Jobs)
        {
            text.AppendLine();
            text.AppendLine(Headline(job));
            text.AppendLine("  " + Details(job));
            if (job.BlockedBy is { } blockedBy)
            {
                text.AppendLine($"  BLOCKED: {blockedBy}");
            }
            if (job.Note is { } note)
            {
                text.AppendLine($"  {note}");
            }
            if (job.Stack is { } stack)
            {
                GlueText.AppendStack(text, stack, "  ");
            }
        }
        return text.ToString();
    }

    public static string Summary(JobsDump dump) =>
        $"Hangfire: {dump.Jobs.Count} job(s) processing in this process, {dump.Stuck.Count()} stuck ({StuckRule.Describe(dump.Threshold)})";

    public static string Headline(ProcessingJob job) => $"job {job.JobId}: {job.Method}({job.Arguments}){(job.IsStuck ? " STUCK" : "")}";

    public static string Details(ProcessingJob job) =>
        $"{(job.IsAsync ? "async" : "sync")}, running {GlueText.Duration(job.Elapsed)} since {job.StartedAt:HH:mm:ss} UTC on {job.ThreadName ?? "thread"} #{job.ThreadId}, server {job.ServerId}";
}
