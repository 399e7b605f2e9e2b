using Hangfire.Server;

namespace Stackscope.Hangfire.Cluster;

/// <summary>
/// Runs in every server that has it (added by <c>services.AddHangfireStackscope()</c> to servers started with
/// <c>AddHangfireServer</c>, or passed to <c>new BackgroundJobServer(options, storage, [StackscopeHangfire.ServerProcess()])</c>):
/// polls the storage's request hash and answers a new request with what this server is performing. While nobody reads,
/// it costs one hash read per <see cref="StackscopeHangfireOptions.PollInterval"/> per server; a read costs each server one
/// dump of its own jobs and one hash write.
/// </summary>
internal sealed class StackscopeServerProcess(Func<StackscopeHangfireOptions> options) : IBackgroundProcess
{
    private string? _answered;

    public void Execute(BackgroundProcessContext context)
    {
        StackscopeHangfireOptions current = options();
        using (var connection = context.Storage.GetConnection())
        {
            if (StorageProtocol.ReadRequest(connection.GetAllEntriesFromHash(StorageProtocol.RequestKey)) is { } request && request.Id != _answered)
            {
                JobsDump dump = Inspection.JobScan.Read(StackscopeHangfire.DumpOptions(current), context.ServerId);
                connection.SetRangeInHash(StorageProtocol.AnswerKey(context.ServerId), StorageProtocol.Write(request, dump, DateTime.UtcNow));
                _answered = request.Id;
            }
        }
        context.Wait(current.PollInterval);
    }

    public override string ToString() => "Stackscope";
}
