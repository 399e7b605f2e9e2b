using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Stackscope.Glue;

namespace Stackscope.Hangfire.Cluster;

/// <summary>
/// How servers and readers talk through Hangfire's own storage API (hashes, which every storage implements): a reader
/// writes a request into one hash; each server's Stackscope process polls it and, for a request it has not answered,
/// writes what it is performing into a hash of its own. Records are JSON (schema <c>stackscope-hangfire/1</c>, stacks as
/// <c>stackscope/1</c>); anything else found there is reported as unreadable, never trusted.
/// </summary>
internal static class StorageProtocol
{
    public const string Schema = "stackscope-hangfire/1";
    public const string RequestKey = "stackscope:request";

    /// <summary>The most held locks and lock candidates read per job from an answer (a record is not trusted to be small).</summary>
    private const int MaxLocks = 64;

    public static string AnswerKey(string serverId) => "stackscope:answer:" + serverId;

    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new LogicalStackJsonConverter() },
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        MaxDepth = 512,
    };

    /// <summary>A request: its id and when it was posted (the reader's clock).</summary>
    public sealed record Request(string Id, DateTime At);

    public static Dictionary<string, string> Write(Request request) => new()
    {
        ["id"] = request.Id,
        ["at"] = request.At.ToString("O", CultureInfo.InvariantCulture),
    };

    public static Request? ReadRequest(Dictionary<string, string>? hash) =>
        hash is not null && hash.TryGetValue("id", out string? id) && hash.TryGetValue("at", out string? at)
            && DateTime.TryParse(at, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out DateTime time)
            ? new Request(id, time.ToUniversalTime())
            : null;

    /// <summary>One job as a record carries it.</summary>
    private sealed record JobRecord(
        string JobId, string Method, string Arguments, string ServerId, int ThreadId, string? ThreadName,
        DateTime StartedAt, double ElapsedMs, bool IsAsync, bool IsStuck, string? BlockedBy, string? Note, LogicalStack? Stack,
        IReadOnlyList<string>? HeldLocks = null, IReadOnlyList<string>? AwaitedLockHashes = null);

    private sealed record AnswerRecord(string Schema, string Request, DateTime RequestAt, DateTime AnsweredAt, double ThresholdSeconds,
        IReadOnlyList<JobRecord> Jobs, IReadOnlyList<string> Errors);

    public static Dictionary<string, string> Write(Request request, JobsDump dump, DateTime answeredAt)
    {
        var record = new AnswerRecord(Schema, request.Id, request.At, answeredAt, dump.Threshold.TotalSeconds,
            dump.Jobs.Select(static j => new JobRecord(j.JobId, j.Method, j.Arguments, j.ServerId, j.ThreadId, j.ThreadName,
                j.StartedAt, j.Elapsed.TotalMilliseconds, j.IsAsync, j.IsStuck, j.BlockedBy, j.Note, j.Stack,
                j.HeldLocks.Count == 0 ? null : j.HeldLocks, j.AwaitedLockHashes)).ToList(),
            dump.Errors);
        return new Dictionary<string, string>
        {
            ["request"] = request.Id,
            ["requestAt"] = request.At.ToString("O", CultureInfo.InvariantCulture),
            ["json"] = JsonSerializer.Serialize(record, s_json),
        };
    }

    /// <summary>Whether an answer's request fields say it answers <paramref name="request"/> (or a later one).</summary>
    public static bool IsCurrent(string? answeredRequest, string? answeredRequestAt, Request request) =>
        answeredRequest == request.Id
        || DateTime.TryParse(answeredRequestAt, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out DateTime time) && time.ToUniversalTime() >= request.At;

    /// <summary>An answer read back: whether it answers <paramref name="request"/> (or a later one), and what it says.</summary>
    public static (bool Current, JobsDump? Jobs, DateTime? AnsweredAt, string? Error) ReadAnswer(Dictionary<string, string>? hash, Request request)
    {
        if (hash is null || hash.Count == 0 || !hash.TryGetValue("request", out string? id))
        {
            return (false, null, null, null);
        }
        if (!IsCurrent(id, hash.GetValueOrDefault("requestAt"), request))
        {
            return (false, null, null, null);
        }
        if (!hash.TryGetValue("json", out string? json))
        {
            return (true, null, null, "the answer has no record");
        }
        try
        {
            AnswerRecord? record = JsonSerializer.Deserialize<AnswerRecord>(json, s_json);
            if (record is null || record.Schema != Schema || record.Jobs is null)
            {
                return (true, null, null, $"the answer is not a {Schema} record");
            }
            TimeSpan threshold = TimeSpan.FromSeconds(double.IsFinite(record.ThresholdSeconds) ? Math.Clamp(record.ThresholdSeconds, 0, StuckRule.MaxThreshold.TotalSeconds) : 0);
            var jobs = record.Jobs.Select(j => new ProcessingJob(j.JobId ?? "?", j.Method ?? "?", j.Arguments ?? "", j.ServerId ?? "?", j.ThreadId, j.ThreadName,
                j.StartedAt, TimeSpan.FromMilliseconds(double.IsFinite(j.ElapsedMs) ? Math.Max(0, j.ElapsedMs) : 0), j.IsAsync)
            {
                IsStuck = j.IsStuck,
                BlockedBy = j.BlockedBy,
                Note = j.Note,
                Stack = j.Stack,
                HeldLocks = j.HeldLocks?.Where(static l => l is not null).Take(MaxLocks).ToList() ?? [],
                AwaitedLockHashes = j.AwaitedLockHashes?.Where(static h => h is not null).Take(MaxLocks).ToList(),
            }).ToList();
            return (true, new JobsDump(jobs, threshold, record.Errors ?? []), record.AnsweredAt, null);
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or ArgumentException or FormatException or OverflowException)
        {
            return (true, null, null, "the answer could not be read: " + e.Message.ReplaceLineEndings(" "));
        }
    }
}
