using System.Text;
using Stackscope.Glue;

namespace Stackscope.Hangfire.Formatting;

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
            AppendJob(text, job, "");
        }
        return text.ToString();
    }

    /// <summary>One job: a blank line, its headline, its details, what blocks it, and its stack, indented by <paramref name="indent"/>.</summary>
    public static void AppendJob(StringBuilder text, ProcessingJob job, string indent)
    {
        text.AppendLine();
        text.AppendLine(indent + Headline(job));
        text.AppendLine(indent + "  " + Details(job));
        if (job.BlockedBy is { } blockedBy)
        {
            text.AppendLine($"{indent}  BLOCKED: {blockedBy}");
        }
        if (job.Note is { } note)
        {
            text.AppendLine($"{indent}  {note}");
        }
        if (job.Stack is { } stack)
        {
            GlueText.AppendStack(text, stack, indent + "  ");
        }
    }

    public static string Summary(JobsDump dump) =>
        $"Hangfire: {dump.Jobs.Count} job(s) processing in this process, {dump.Stuck.Count()} stuck ({StuckRule.Describe(dump.Threshold)})";

    public static string Headline(ProcessingJob job) => $"job {job.JobId}: {job.Method}({job.Arguments}){(job.IsStuck ? " STUCK" : "")}";

    public static string Details(ProcessingJob job) =>
        $"{(job.IsAsync ? "async" : "sync")}, running {GlueText.Duration(job.Elapsed)} since {job.StartedAt:HH:mm:ss} UTC on {job.ThreadName ?? "thread"} #{job.ThreadId}, server {job.ServerId}";
}
