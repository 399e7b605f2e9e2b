using Hangfire.Server;

namespace Stackscope.Hangfire.Tracking;

/// <summary>
/// A server filter recording each job's start (id, method, arguments, server, worker thread, time) and marking its
/// execution context, so that a dump can tie the job's async methods to it. Per job: one dictionary add, one
/// remove, one AsyncLocal write each way.
/// </summary>
internal sealed class StackscopeJobFilter : IServerFilter
{
    public void OnPerforming(PerformingContext context) => RunningJobs.Begin(context);

    public void OnPerformed(PerformedContext context) => RunningJobs.End(context);
}
