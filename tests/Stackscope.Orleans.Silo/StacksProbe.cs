using Microsoft.Extensions.DependencyInjection;

namespace Stackscope.Orleans.Silo;

public interface IStacksProbeGrain : IGrainWithStringKey
{
    /// <summary>The stacks of the silo this grain lives on (<see cref="IGrainStacks.GetSiloStacks"/>), this probe's own request among them.</summary>
    Task<SiloStacks> ReadSilo();

    /// <summary>The cluster's stacks read from this grain's silo (<see cref="IGrainStacks.GetClusterStacksAsync"/>), as text.</summary>
    Task<string> ReadCluster(TimeSpan? threshold = null);
}

/// <summary>
/// How a process that only runs a client reads what Stackscope sees in the silos: <see cref="IGrainStacks"/> lives in
/// the silos, so the test asks a grain placed on the silo it wants to read from (its own request shows up as a running one).
/// </summary>
public sealed class StacksProbeGrain(IServiceProvider services) : Grain, IStacksProbeGrain
{
    private IGrainStacks Stacks => services.GetService<IGrainStacks>()
        ?? throw new InvalidOperationException("this silo runs without Stackscope (--no-stackscope)");

    public Task<SiloStacks> ReadSilo() => Task.FromResult(Stacks.GetSiloStacks());

    public async Task<string> ReadCluster(TimeSpan? threshold = null) => (await Stacks.GetClusterStacksAsync(threshold)).ToString();
}
