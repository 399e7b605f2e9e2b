using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Stackscope.Orleans.Inspection;

namespace Stackscope.Orleans;

/// <summary>The cluster's request stacks, as seen from this silo. Registered by <c>AddStackscope</c>.</summary>
public interface IGrainStacks
{
    /// <summary>This silo's busy activations and their requests' stacks.</summary>
    SiloStacks GetSiloStacks();

    /// <summary>
    /// Every active silo's report (this silo reads itself and asks the others), stitched: requests running at least
    /// <paramref name="threshold"/> (default <see cref="StackscopeOrleansOptions.StuckThreshold"/>), each followed into the
    /// callee's request across grains and silos, and call cycles. A silo that does not answer is listed with the error.
    /// </summary>
    Task<ClusterStacks> GetClusterStacksAsync(TimeSpan? threshold = null, CancellationToken cancellationToken = default);
}

internal sealed class GrainStacks(IServiceProvider services, IOptions<StackscopeOrleansOptions> options, ILocalSiloDetails local, IGrainFactory grains, Cluster.ISiloStacksClient client) : IGrainStacks
{
    public SiloStacks GetSiloStacks() => SiloScan.Read(services, options.Value);

    public async Task<ClusterStacks> GetClusterStacksAsync(TimeSpan? threshold = null, CancellationToken cancellationToken = default)
    {
        var reports = new List<SiloStacks> { GetSiloStacks() };
        Dictionary<SiloAddress, SiloStatus> hosts;
        try
        {
            hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(cancellationToken);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            hosts = new();
            reports[0] = reports[0] with { Errors = reports[0].Errors.Append($"the cluster's silos could not be listed: {e.Message}").ToList() };
        }
        var others = hosts.Keys.Where(s => !s.Equals(local.SiloAddress)).ToList();
        var answers = others.Select(async silo =>
        {
            try
            {
                return await client.GetStacks(silo).WaitAsync(TimeSpan.FromSeconds(10), cancellationToken);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                return new SiloStacks { Silo = silo.ToString(), Address = silo.ToString(), Errors = [$"did not answer: {e.GetType().Name}: {e.Message}"] };
            }
        });
        reports.AddRange(await Task.WhenAll(answers));
        return CallChains.Stitch(reports, threshold ?? options.Value.StuckThreshold);
    }
}
