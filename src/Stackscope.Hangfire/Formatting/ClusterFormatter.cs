using System.Text;
using Stackscope.Glue;

namespace Stackscope.Hangfire.Formatting;

/// <summary>Renders <see cref="HangfireStacks"/> as text: each server, then its jobs (stuck first) as a local dump shows them.</summary>
internal static class ClusterFormatter
{
    public static string Format(HangfireStacks stacks)
    {
        var text = new StringBuilder();
        text.AppendLine(Summary(stacks));
        GlueText.AppendErrors(text, stacks.Errors);
        foreach (ServerStacks server in stacks.Servers)
        {
            text.AppendLine();
            text.AppendLine(ServerLine(server));
            if (server.Note is { } note)
            {
                text.AppendLine("  " + note);
            }
            if (server.Jobs is { } dump)
            {
                GlueText.AppendErrors(text, dump.Errors, "  ");
                foreach (ProcessingJob job in dump.Jobs.OrderByDescending(static j => j.IsStuck))
                {
                    JobsFormatter.AppendJob(text, job, "  ");
                }
            }
        }
        return text.ToString();
    }

    public static string Summary(HangfireStacks stacks)
    {
        int answered = stacks.Servers.Count(static s => s.Answer == ServerAnswer.Answered);
        var jobs = stacks.Jobs.ToList();
        return $"Hangfire: {stacks.Servers.Count} server(s), {answered} answered within {GlueText.Duration(stacks.Bound)}; {jobs.Count} job(s) processing, {jobs.Count(static j => j.IsStuck)} stuck";
    }

    public static string ServerLine(ServerStacks server) => server.Answer switch
    {
        ServerAnswer.Answered => $"server {server.ServerId}: {server.Jobs!.Jobs.Count} job(s) processing, {server.Jobs.Stuck.Count()} stuck ({StuckRule.Describe(server.Jobs.Threshold)}){(server.AnsweredAt is { } at ? $", answered at {at:HH:mm:ss} UTC" : "")}",
        ServerAnswer.Unreadable => $"server {server.ServerId}: UNREADABLE ANSWER",
        _ => $"server {server.ServerId}: NO ANSWER",
    };
}
