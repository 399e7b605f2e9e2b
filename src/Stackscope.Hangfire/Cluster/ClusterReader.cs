using System.Diagnostics;
using Hangfire;
using Hangfire.Storage;
using Hangfire.Storage.Monitoring;
using Stackscope.Glue;

namespace Stackscope.Hangfire.Cluster;

/// <summary>
/// Reads every server of a storage from any process connected to it: posts a request, then reads each server's answer
/// until all listed servers answered or the bound passed. Never waits past the bound; never throws for a server's fault.
/// </summary>
internal static class ClusterReader
{
    private static readonly TimeSpan s_pollEvery = TimeSpan.FromMilliseconds(100);

    /// <summary>How long past the bound a read may take to give up on a storage call already under way.</summary>
    private static readonly TimeSpan s_grace = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Reads within <paramref name="bound"/> (plus a second's grace): Hangfire's storage API is synchronous and a storage
    /// that does not answer can hold a call for its own timeout, so the read runs on the thread pool and is abandoned,
    /// with a clear error, when it overruns; it finishes in the background and changes nothing.
    /// </summary>
    public static async Task<HangfireStacks> ReadAsync(JobStorage storage, TimeSpan bound, CancellationToken cancellationToken)
    {
        Task<HangfireStacks> read = Task.Run(() => ReadCoreAsync(storage, bound, cancellationToken), cancellationToken);
        try
        {
            return await read.WaitAsync(bound + s_grace, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return new HangfireStacks([], bound, [$"the job storage did not answer within {GlueText.Duration(bound + s_grace)}"]);
        }
    }

    /// <summary>An exception as one short line: its type and the first sentence of its message.</summary>
    private static string Reason(Exception e)
    {
        string message = e.Message.ReplaceLineEndings(" ");
        int cut = message.IndexOf(" - ", StringComparison.Ordinal);
        message = cut > 0 ? message[..cut] : message;
        return $"{e.GetType().Name}: {(message.Length > 200 ? message[..200] + "…" : message)}";
    }

    /// <summary>
    /// Whether a server's answer may be for <paramref name="request"/>, from its two small request fields: the whole answer
    /// (about 1.4 KB a job) is fetched only then, not on every poll while the server has yet to answer. A storage without
    /// single-field reads (Hangfire's API makes them optional) is read whole.
    /// </summary>
    private static bool MayBeCurrent(IStorageConnection connection, string key, StorageProtocol.Request request)
    {
        if (connection is not JobStorageConnection fields)
        {
            return true;
        }
        try
        {
            return StorageProtocol.IsCurrent(fields.GetValueFromHash(key, "request"), fields.GetValueFromHash(key, "requestAt"), request);
        }
        catch (NotSupportedException)
        {
            return true;
        }
    }

    private static async Task<HangfireStacks> ReadCoreAsync(JobStorage storage, TimeSpan bound, CancellationToken cancellationToken)
    {
        var errors = new List<string>();
        IList<ServerDto> servers;
        var request = new StorageProtocol.Request(Guid.NewGuid().ToString("N"), DateTime.UtcNow);
        try
        {
            servers = storage.GetMonitoringApi().Servers();
            using var connection = storage.GetConnection();
            connection.SetRangeInHash(StorageProtocol.RequestKey, StorageProtocol.Write(request));
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            errors.Add("the job storage could not be read: " + Reason(e));
            return new HangfireStacks([], bound, errors);
        }

        var answers = new Dictionary<string, ServerStacks>();
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                using var connection = storage.GetConnection();
                foreach (ServerDto server in servers.Where(s => !answers.ContainsKey(s.Name)))
                {
                    string key = StorageProtocol.AnswerKey(server.Name);
                    if (!MayBeCurrent(connection, key, request))
                    {
                        continue;
                    }
                    var (current, jobs, answeredAt, error) = StorageProtocol.ReadAnswer(connection.GetAllEntriesFromHash(key), request);
                    if (current)
                    {
                        answers[server.Name] = error is null
                            ? new ServerStacks(server.Name, ServerAnswer.Answered, server.Heartbeat, jobs, answeredAt, null)
                            : new ServerStacks(server.Name, ServerAnswer.Unreadable, server.Heartbeat, null, null, error);
                    }
                }
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                errors.Add("reading the answers failed: " + Reason(e));
                break;
            }
            TimeSpan left = bound - clock.Elapsed;
            if (answers.Count == servers.Count || left <= TimeSpan.Zero)
            {
                break;
            }
            await Task.Delay(left < s_pollEvery ? left : s_pollEvery, cancellationToken).ConfigureAwait(false);
        }

        var result = servers.Select(s => answers.TryGetValue(s.Name, out ServerStacks? answer) ? answer
                : new ServerStacks(s.Name, ServerAnswer.NoAnswer, s.Heartbeat, null, null,
                    $"did not answer within {GlueText.Duration(bound)} (stopped, dead, busy, or Stackscope's server process is not running in it)"
                    + (s.Heartbeat is { } beat ? $"; last heartbeat {GlueText.Duration(DateTime.UtcNow - beat)} ago" : "")))
            .OrderByDescending(static s => s.Jobs?.Stuck.Any() ?? false)
            .ThenBy(static s => s.ServerId, StringComparer.Ordinal)
            .ToList();
        // What one server's job waits for may be held by another server's: matched over every answer.
        Inspection.BlockedBy.Annotate(result.SelectMany(static s => s.Jobs?.Jobs ?? []).ToList());
        return new HangfireStacks(result, bound, errors);
    }
}
