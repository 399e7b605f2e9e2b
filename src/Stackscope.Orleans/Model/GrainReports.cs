using Stackscope.Glue;

namespace Stackscope.Orleans;

/// <summary>Whether a request is executing in its activation or waiting in its queue.</summary>
[GenerateSerializer]
public enum GrainRequestState
{
    /// <summary>Executing (for a non-reentrant grain, the one blocking the others, or interleaved with it).</summary>
    Running,

    /// <summary>Waiting in the activation's queue for the running request(s) to finish.</summary>
    Waiting,
}

/// <summary>A call a request awaits: another grain's method.</summary>
/// <param name="Method">The callee's <c>IInterface.Method</c>.</param>
/// <param name="TargetGrain">The callee grain id.</param>
/// <param name="TargetSilo">The silo the call was sent to, once placed.</param>
/// <param name="SendingGrain">The caller grain id (with <see cref="MessageId"/>, what identifies the call on the callee's side).</param>
/// <param name="MessageId">The call's correlation id.</param>
[GenerateSerializer, Immutable, Alias("stackscope.call")]
public sealed record GrainCall(
    [property: Id(0)] string Method,
    [property: Id(1)] string TargetGrain,
    [property: Id(2)] string? TargetSilo,
    [property: Id(3)] string SendingGrain,
    [property: Id(4)] long MessageId)
{
    /// <summary>The <see cref="GrainRequest.Key"/> of the callee's request serving this call.</summary>
    internal string Key => GrainRequest.KeyOf(SendingGrain, MessageId);
}

/// <summary>A request an activation is running or holding in its queue.</summary>
[GenerateSerializer, Immutable, Alias("stackscope.request")]
public sealed record GrainRequest
{
    /// <summary>The silo the activation lives on.</summary>
    [Id(0)] public required string Silo { get; init; }

    /// <summary>The grain id, e.g. <c>order/42</c>.</summary>
    [Id(1)] public required string Grain { get; init; }

    /// <summary>The grain class.</summary>
    [Id(2)] public required string GrainType { get; init; }

    /// <summary>The request's <c>IInterface.Method</c>.</summary>
    [Id(3)] public required string Method { get; init; }

    /// <summary>The calling grain (or client) id.</summary>
    [Id(4)] public string? Caller { get; init; }

    /// <summary>The call's correlation id.</summary>
    [Id(5)] public long MessageId { get; init; }

    /// <summary>How long it has been running (or waiting, for a queued request).</summary>
    [Id(6)] public TimeSpan Elapsed { get; init; }

    /// <summary>Running or waiting.</summary>
    [Id(7)] public GrainRequestState State { get; init; }

    /// <summary>For a waiting request, its position in the queue (1 = next).</summary>
    [Id(8)] public int QueuePosition { get; init; }

    /// <summary>
    /// The request's logical stack from the grain method in (Orleans' own request pipeline above it left out), with every
    /// frame's await line, the resources it holds and what it waits for; a grain call it awaits is a leaf naming the call.
    /// Null when the request's task was not found (see <see cref="Note"/>) or the request is waiting in the queue.
    /// </summary>
    [Id(9)] public LogicalStack? Stack { get; init; }

    /// <summary>The grain calls the request awaits (several under a <c>Task.WhenAll</c>), each continuing into the callee's request.</summary>
    [Id(11)] public IReadOnlyList<GrainCall> AwaitedCalls { get; init; } = Array.Empty<GrainCall>();

    /// <summary>Why there is no stack, or what else matters.</summary>
    [Id(12)] public string? Note { get; init; }

    /// <summary>Whether this is the request that keeps a non-reentrant activation from running others.</summary>
    [Id(13)] public bool IsBlocking { get; init; }

    /// <summary>
    /// Where a running request stands against its silo's Orleans limits: <c>RequestProcessingWarningTime</c>, past which
    /// Orleans logs it as slow, and <c>MaxRequestProcessingTime</c>, past which Orleans deactivates the activation as
    /// unresponsive (<c>ActivationUnresponsive</c>) when another request arrives for it. Null for a waiting request.
    /// </summary>
    [Id(14)] public string? OrleansLimits { get; init; }

    /// <summary>Identifies the request cluster-wide (caller and correlation id).</summary>
    public string Key => KeyOf(Caller, MessageId);

    /// <summary>The activation and its silo, as deadlock cycles name them.</summary>
    internal string Location => $"{Grain} ({Silo})";

    internal static string KeyOf(string? caller, long messageId) => $"{caller}#{messageId}";
}

/// <summary>An activation that is running or holding requests.</summary>
[GenerateSerializer, Immutable, Alias("stackscope.activation")]
public sealed record GrainActivation
{
    /// <summary>The silo it lives on.</summary>
    [Id(0)] public required string Silo { get; init; }

    /// <summary>The grain id.</summary>
    [Id(1)] public required string Grain { get; init; }

    /// <summary>The grain class.</summary>
    [Id(2)] public required string GrainType { get; init; }

    /// <summary>Requests executing.</summary>
    [Id(3)] public IReadOnlyList<GrainRequest> Running { get; init; } = Array.Empty<GrainRequest>();

    /// <summary>Requests waiting, oldest first.</summary>
    [Id(4)] public IReadOnlyList<GrainRequest> Waiting { get; init; } = Array.Empty<GrainRequest>();
}

/// <summary>What one silo's activations are doing.</summary>
[GenerateSerializer, Immutable, Alias("stackscope.silo")]
public sealed record SiloStacks
{
    /// <summary>The silo's name.</summary>
    [Id(0)] public required string Silo { get; init; }

    /// <summary>The silo's address.</summary>
    [Id(1)] public required string Address { get; init; }

    /// <summary>Busy activations (running or holding requests).</summary>
    [Id(2)] public IReadOnlyList<GrainActivation> Activations { get; init; } = Array.Empty<GrainActivation>();

    /// <summary>How many activations the silo has in all.</summary>
    [Id(3)] public int ActivationCount { get; init; }

    /// <summary>What could not be read.</summary>
    [Id(4)] public IReadOnlyList<string> Errors { get; init; } = Array.Empty<string>();

    /// <summary>Whether the silo answered; when not (down, shutting down, slower than the read's bound), <see cref="Errors"/> says why.</summary>
    [Id(5)] public bool Answered { get; init; } = true;

    /// <summary>The silo's <c>SiloMessagingOptions.RequestProcessingWarningTime</c>: Orleans calls a request running longer slow.</summary>
    [Id(6)] public TimeSpan? RequestWarningTime { get; init; }

    /// <summary>The silo's <c>SiloMessagingOptions.MaxRequestProcessingTime</c>: past it Orleans deactivates the activation as unresponsive.</summary>
    [Id(7)] public TimeSpan? MaxRequestProcessingTime { get; init; }
}

/// <summary>
/// A request and what it waits for, recursively: for a running request, the callee's request of every grain call it
/// awaits; for a request waiting in a queue, the request running in that activation. One logical stack across grains and silos.
/// </summary>
/// <param name="Request">The request.</param>
/// <param name="Next">What it waits for, each followed on (on the same or another silo).</param>
/// <param name="Notes">Why the chain stops where it does: a callee's request not found, a cycle.</param>
public sealed record GrainCallChain(GrainRequest Request, IReadOnlyList<GrainCallChain> Next, IReadOnlyList<string> Notes);

/// <summary>The cluster's stuck requests (running longer than the threshold), each with its stack across grains, and deadlocks.</summary>
public sealed class ClusterStacks
{
    internal ClusterStacks(IReadOnlyList<SiloStacks> silos, IReadOnlyList<GrainCallChain> stuck, IReadOnlyList<Deadlock> deadlocks, TimeSpan threshold, IReadOnlyList<string> errors)
    {
        Silos = silos;
        Stuck = stuck;
        Deadlocks = deadlocks;
        Threshold = threshold;
        Errors = errors;
    }

    /// <summary>What could not be read of the cluster as a whole (its silos not listed); each silo's own in <see cref="SiloStacks.Errors"/>.</summary>
    public IReadOnlyList<string> Errors { get; }

    /// <summary>Every silo's report.</summary>
    public IReadOnlyList<SiloStacks> Silos { get; }

    /// <summary>Requests running longer than <see cref="Threshold"/>, outermost callers first, each followed into its callees.</summary>
    public IReadOnlyList<GrainCallChain> Stuck { get; }

    /// <summary>Call cycles between grains (kind <c>call cycle</c>), each member named <c>grain (silo)</c>.</summary>
    public IReadOnlyList<Deadlock> Deadlocks { get; }

    /// <summary>The threshold requests were compared with.</summary>
    public TimeSpan Threshold { get; }

    /// <inheritdoc />
    public override string ToString() => Formatting.GrainStacksFormatter.Format(this);
}
