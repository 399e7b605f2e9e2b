namespace Stackscope.Hangfire;

/// <summary>A job this process is performing, and what it is doing.</summary>
public sealed class ProcessingJob
{
    internal ProcessingJob(string jobId, string method, string arguments, string serverId, int threadId, string? threadName, DateTime startedAt, TimeSpan elapsed, bool isAsync)
    {
        JobId = jobId;
        Method = method;
        Arguments = arguments;
        ServerId = serverId;
        ThreadId = threadId;
        ThreadName = threadName;
        StartedAt = startedAt;
        Elapsed = elapsed;
        IsAsync = isAsync;
    }

    /// <summary>The background job's id.</summary>
    public string JobId { get; }

    /// <summary>The job method, <c>Type.Method</c>.</summary>
    public string Method { get; }

    /// <summary>A short rendering of its arguments.</summary>
    public string Arguments { get; }

    /// <summary>The server performing it.</summary>
    public string ServerId { get; }

    /// <summary>The worker thread's managed id.</summary>
    public int ThreadId { get; }

    /// <summary>The worker thread's name (Hangfire names its workers).</summary>
    public string? ThreadName { get; }

    /// <summary>When its performance began (UTC).</summary>
    public DateTime StartedAt { get; }

    /// <summary>How long it has been performing.</summary>
    public TimeSpan Elapsed { get; }

    /// <summary>Whether the job method is async (the worker waits for its task chain).</summary>
    public bool IsAsync { get; }

    /// <summary>Whether it has been performing at least the dump's threshold (the kit's one rule, <see cref="Stackscope.Glue.StuckRule"/>).</summary>
    public bool IsStuck { get; internal set; }

    /// <summary>
    /// What it is doing: for an async job, its task chain from the job method down (with TaskTracking on); for a
    /// synchronous one, its worker thread's stack from the job method in (read from a snapshot of this process).
    /// </summary>
    public LogicalStack? Stack { get; internal set; }

    /// <summary>Which job holds what this one waits for, when that can be known.</summary>
    public string? BlockedBy { get; internal set; }

    /// <summary>
    /// The distributed locks (<c>AcquireDistributedLock</c>) this job holds, by resource as its storage names it: read from
    /// the lock objects its suspended async frames use. A synchronous job's locks are not readable.
    /// </summary>
    public IReadOnlyList<string> HeldLocks { get; internal set; } = [];

    /// <summary>The distributed lock this job waits to acquire, once a job holding it was found (then <see cref="BlockedBy"/> names it).</summary>
    public string? AwaitedLock { get; internal set; }

    /// <summary>
    /// When the job waits in <c>AcquireDistributedLock</c>: hashes of the strings its acquiring frames keep alive, one of
    /// which names the resource (matched against other jobs' <see cref="HeldLocks"/>).
    /// </summary>
    internal IReadOnlyList<string>? AwaitedLockHashes { get; set; }

    /// <summary>Why there is no stack, or what else matters.</summary>
    public string? Note { get; internal set; }

    /// <summary>The execution in this process's registry (null for a job read from another server's answer).</summary>
    internal Tracking.RunningJob? Execution { get; init; }

    /// <summary>
    /// The activity the job runs in: for an async job, the one current in its job method (whatever the order of the filters
    /// that started it); otherwise the one current when Stackscope's filter saw it start. Null when none, or from another server.
    /// </summary>
    internal System.Diagnostics.Activity? Activity { get; set; }

    /// <inheritdoc />
    public override string ToString() => $"job {JobId} {Method}";
}

/// <summary>The jobs this process is performing at one moment.</summary>
public sealed class JobsDump
{
    internal JobsDump(IReadOnlyList<ProcessingJob> jobs, TimeSpan threshold, IReadOnlyList<string> errors)
    {
        Jobs = jobs;
        Threshold = threshold;
        Errors = errors;
    }

    /// <summary>Every job being performed, longest running first.</summary>
    public IReadOnlyList<ProcessingJob> Jobs { get; }

    /// <summary>Jobs performing at least <see cref="Threshold"/>.</summary>
    public IEnumerable<ProcessingJob> Stuck => Jobs.Where(static j => j.IsStuck);

    /// <summary>The stuck threshold.</summary>
    public TimeSpan Threshold { get; }

    /// <summary>What could not be read.</summary>
    public IReadOnlyList<string> Errors { get; }

    /// <inheritdoc />
    public override string ToString() => Formatting.JobsFormatter.Format(this);
}

/// <summary>What a jobs dump reads.</summary>
public sealed record JobDumpOptions
{
    /// <summary>The defaults.</summary>
    public static JobDumpOptions Default { get; } = new();

    /// <summary>Jobs performing at least this long are "stuck". Default 1 minute.</summary>
    public TimeSpan StuckThreshold { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>List only stuck jobs.</summary>
    public bool OnlyStuck { get; init; }

    /// <summary>
    /// Read synchronous jobs' worker thread stacks from a snapshot of this process (the runtime's createdump; about a
    /// second or two, see docs/performance.md). On by default: nothing else can show a thread's stack in process.
    /// </summary>
    public bool ReadThreadStacks { get; init; } = true;

    /// <summary>Argument renderings are cut at this many characters.</summary>
    public int MaxArgumentText { get; init; } = 80;

    /// <summary>How stacks are extracted.</summary>
    public ExtractOptions Extract { get; init; } = ExtractOptions.Default;
}
