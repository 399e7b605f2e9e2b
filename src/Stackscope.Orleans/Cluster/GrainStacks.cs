using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Stackscope.Glue;
using Stackscope.Orleans.Cluster;
using Stackscope.Orleans.Inspection;

namespace Stackscope.Orleans;

/// <summary>
/// The cluster's request stacks, read from a silo or from a cluster client. Registered by <c>AddStackscope</c> on either
/// builder (<see cref="ISiloBuilder"/> or <see cref="IClientBuilder"/>).
/// </summary>
public interface IGrainStacks
{
    /// <summary>This silo's busy activations and their requests' stacks; on a cluster client, which runs no silo, an empty report saying so.</summary>
    SiloStacks GetSiloStacks();

    /// <summary>
    /// Every active silo's report, stitched: requests running at least <paramref name="threshold"/> (default
    /// <see cref="StackscopeOrleansOptions.StuckThreshold"/>, else Orleans' own <c>RequestProcessingWarningTime</c>), each followed
    /// into the callee's request across grains and silos, and call cycles. Each silo is asked at once and waited for at most
    /// <see cref="StackscopeOrleansOptions.ReadBound"/>: a silo that is down, shutting down or slow is listed with why, next to
    /// what the others answered. Never throws for a silo's fault; <paramref name="cancellationToken"/> stops the wait.
    /// </summary>
    Task<ClusterStacks> GetClusterStacksAsync(TimeSpan? threshold = null, CancellationToken cancellationToken = default);
}

/// <summary>One implementation for both sides: a silo reads itself in place and asks the others; a client asks every silo.</summary>
internal sealed class GrainStacks(IServiceProvider services, IOptions<StackscopeOrleansOptions> options, IGrainFactory grains) : IGrainStacks
{
    /// <summary>The silo this host runs, or null on a cluster client.</summary>
    private ILocalSiloDetails? Local => services.GetService<ILocalSiloDetails>();

    public SiloStacks GetSiloStacks() => Local is null
        ? new SiloStacks { Silo = "(cluster client)", Address = "-", Errors = ["this host is a cluster client: it runs no silo (GetClusterStacksAsync reads every silo)"] }
        : SiloScan.Read(services, options.Value);

    public async Task<ClusterStacks> GetClusterStacksAsync(TimeSpan? threshold = null, CancellationToken cancellationToken = default)
    {
        StackscopeOrleansOptions settings = options.Value;
        TimeSpan bound = settings.ReadBound;
        ILocalSiloDetails? local = Local;
        var reports = new List<SiloStacks>();
        var errors = new List<string>();
        if (local is not null)
        {
            reports.Add(SiloScan.Read(services, settings));
        }
        MembershipEntry[] silos;
        try
        {
            silos = await grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true).WaitAsync(bound, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            silos = [];
            errors.Add($"the cluster's silos could not be listed within {GlueText.Duration(bound)}: {Reason(e)}");
        }
        IEnumerable<Task<SiloStacks>> asked = silos
            .Where(s => local is null || !s.SiloAddress.Equals(local.SiloAddress))
            .Select(s => AskAsync(s, bound, cancellationToken));
        reports.AddRange(await Task.WhenAll(asked).ConfigureAwait(false));
        return CallChains.Stitch(reports, threshold ?? settings.StuckThreshold ?? WarningTimeOf(reports), errors);
    }

    /// <summary>One silo's report within <paramref name="bound"/>, or a report naming why there is none.</summary>
    private async Task<SiloStacks> AskAsync(MembershipEntry silo, TimeSpan bound, CancellationToken cancellationToken)
    {
        try
        {
            return await grains.GetGrain<ISiloStacksGrain>(SiloStacksGrain.KeyOf(silo.SiloAddress)).GetStacks().WaitAsync(bound, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            string why = e is TimeoutException ? $"did not answer within {GlueText.Duration(bound)}" : $"did not answer: {Reason(e)}";
            return new SiloStacks { Silo = silo.SiloName ?? silo.SiloAddress.ToString(), Address = silo.SiloAddress.ToString(), Answered = false, Errors = [why] };
        }
    }

    /// <summary>The stuck threshold when none is configured: Orleans' own warning time for slow requests, the smallest the silos report.</summary>
    private static TimeSpan WarningTimeOf(IEnumerable<SiloStacks> reports) =>
        reports.Select(static r => r.RequestWarningTime).OfType<TimeSpan>().DefaultIfEmpty(StuckRule.DefaultThreshold).Min();

    /// <summary>An exception as one short line: its type and the first line of its message.</summary>
    private static string Reason(Exception e)
    {
        string message = e.Message.ReplaceLineEndings(" ");
        return $"{e.GetType().Name}: {(message.Length > 200 ? message[..200] + "…" : message)}";
    }
}
