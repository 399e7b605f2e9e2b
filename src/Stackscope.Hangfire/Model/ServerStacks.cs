namespace Stackscope.Hangfire;

/// <summary>How a server answered a read through the job storage.</summary>
public enum ServerAnswer
{
    /// <summary>It answered within the bound: its jobs are listed.</summary>
    Answered,

    /// <summary>It did not answer within the bound: dead, stopped, overloaded, or Stackscope is not set up in its process.</summary>
    NoAnswer,

    /// <summary>Its answer could not be read (a record of another version, or not Stackscope's).</summary>
    Unreadable,
}

/// <summary>One Hangfire server, as read from another process through the job storage.</summary>
public sealed class ServerStacks
{
    internal ServerStacks(string serverId, ServerAnswer answer, DateTime? heartbeat, JobsDump? jobs, DateTime? answeredAt, string? note)
    {
        ServerId = serverId;
        Answer = answer;
        Heartbeat = heartbeat;
        Jobs = jobs;
        AnsweredAt = answeredAt;
        Note = note;
    }

    /// <summary>The server's id (<c>name:pid:guid</c>).</summary>
    public string ServerId { get; }

    /// <summary>Whether it answered.</summary>
    public ServerAnswer Answer { get; }

    /// <summary>Its last heartbeat in the storage (UTC), when known.</summary>
    public DateTime? Heartbeat { get; }

    /// <summary>What it is performing, when it answered.</summary>
    public JobsDump? Jobs { get; }

    /// <summary>When it captured its answer (UTC, its own clock).</summary>
    public DateTime? AnsweredAt { get; }

    /// <summary>Why there are no jobs to show, when there are none.</summary>
    public string? Note { get; }
}

/// <summary>Every server of a job storage, each with the jobs it is performing and their stacks (or why it did not say).</summary>
public sealed class HangfireStacks
{
    internal HangfireStacks(IReadOnlyList<ServerStacks> servers, TimeSpan bound, IReadOnlyList<string> errors)
    {
        Servers = servers;
        Bound = bound;
        Errors = errors;
    }

    /// <summary>The servers the storage lists, those with stuck jobs first.</summary>
    public IReadOnlyList<ServerStacks> Servers { get; }

    /// <summary>Every job of every server that answered (each server says which are stuck, by its own threshold).</summary>
    public IEnumerable<ProcessingJob> Jobs => Servers.SelectMany(static s => s.Jobs?.Jobs ?? []);

    /// <summary>How long the read waited for answers.</summary>
    public TimeSpan Bound { get; }

    /// <summary>What could not be read (the storage itself, its server list).</summary>
    public IReadOnlyList<string> Errors { get; }

    /// <inheritdoc />
    public override string ToString() => Formatting.ClusterFormatter.Format(this);
}
