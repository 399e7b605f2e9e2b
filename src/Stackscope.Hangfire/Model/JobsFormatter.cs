using Stackscope.Glue;
using System.Text;

namespace Stackscope.Hangfire;

/// <summary>Renders a <see cref="JobsDump"/> as text: one block per job, its stack indented below.</summary>
internal static class JobsFormatter
{
    public static string Format(JobsDump dump)
    {
        var text = new StringBuilder();
        int stuck = dump.Stuck.Count();
        text.AppendLine($"Hangfire: {dump.Jobs.Count} job(s) processing in this process, {stuck} stuck (≥ {GlueText.Duration(dump.Threshold)})");
        foreach (string error in dump.Errors)
        {
            text.AppendLine($"error: {error}");
        }
        foreach (ProcessingJob job in dump.Jobs)
        {
            text.AppendLine();
            text.AppendLine($"job {job.JobId}: {job.Method}({job.Arguments}){(job.Elapsed >= dump.Threshold ? " STUCK" : "")}");
            text.AppendLine($"  {(job.IsAsync ? "async" : "sync")}, running {GlueText.Duration(job.Elapsed)} since {job.StartedAt:HH:mm:ss} UTC on {job.ThreadName ?? "thread"} #{job.ThreadId}, server {job.ServerId}");
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
                foreach (string line in stack.ToString().Split('\n'))
                {
                    if (line.Length > 0)
                    {
                        text.AppendLine("  " + line.TrimEnd('\r'));
                    }
                }
            }
        }
        return text.ToString();
    }

}
