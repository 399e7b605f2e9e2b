using Stackscope.Glue;
using Stackscope.Hangfire.Inspection;

[assembly: StackscopeGlue(typeof(Stackscope.Hangfire.Glue.HangfireGlue))]

namespace Stackscope.Hangfire.Glue;

/// <summary>
/// Teaches extraction about Hangfire: a <c>using</c> of a storage's distributed lock is described by the resource it
/// locks (<c>distributed lock on "hangfire:shop:stock"</c>), not only by its type.
/// </summary>
/// <remarks>
/// Registered on <see cref="IDisposable"/>, since every storage has its own lock type; it declines (and Stackscope describes
/// the resource as usual) for anything that is not a Hangfire storage's lock, a per-type answer cached once.
/// </remarks>
internal sealed class HangfireGlue : IStackscopeGlue
{
    public void Register(StackscopeGlueBuilder glue) => glue.DescribeResource(typeof(IDisposable), DistributedLocks.Describe);
}
