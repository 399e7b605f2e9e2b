using Hangfire.Server;
using Microsoft.Extensions.Logging;

namespace Stackscope.Hangfire.Cluster;

/// <summary>
/// Runs in every server that has it (added by <c>services.AddHangfireStackscope()</c> to servers started with
/// <c>AddHangfireServer</c>, or passed to <c>new BackgroundJobServer(options, storage, [StackscopeHangfire.ServerProcess()])</c>):
/// polls the storage's request hash and answers a new request with what this server is performing. While nobody reads,
/// it costs one hash read per <see cref="StackscopeHangfireOptions.PollInterval"/> per server; a read costs each server one
/// dump of its own jobs and one hash write. When the server stops, it logs the jobs that ignore their cancellation
/// (<see cref="Stuck.ShutdownWatch"/>).
/// </summary>
internal sealed class StackscopeServerProcess(Func<StackscopeHangfireOptions> options, ILogger? logger = null) : IBackgroundProcess
{
    private string? _answered;

    public void Execute(BackgroundProcessContext context)
    {
        StackscopeHangfireOptions current = options();
        if (!context.IsStopping)
        {
            using (var connection = context.Storage.GetConnection())
            {
                if (StorageProtocol.ReadRequest(connection.GetAllEntriesFromHash(StorageProtocol.RequestKey)) is { } request && request.Id != _answered)
                {
                    JobsDump dump = Inspection.JobScan.Read(StackscopeHangfire.DumpOptions(current), context.ServerId);
                    connection.SetRangeInHash(StorageProtocol.AnswerKey(context.ServerId), StorageProtocol.Write(request, dump, DateTime.UtcNow));
                    _answered = request.Id;
                }
            }
            // Not context.Wait: it throws once the server is stopping, and this process has one more thing to do then.
            context.StoppingToken.WaitHandle.WaitOne(current.PollInterval);
        }
        if (context.IsStopping && current.LogJobsIgnoringShutdown)
        {
            // The last execution of this process in this server: Hangfire's loop ends once the server is stopping.
            Stuck.ShutdownWatch.Run(context, current, logger);
        }
    }

    public override string ToString() => "Stackscope";
}
