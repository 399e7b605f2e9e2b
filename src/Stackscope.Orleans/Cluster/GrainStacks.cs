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
    /// <see cref="StackscopeOrleansOptions.ReadBound"/>: a silo that is down, frozen, shutting down or slow is listed with why,
    /// next to what the others answered. Never throws for a silo's fault; <paramref name="cancellationToken"/> stops the wait.
    /// </summary>
    Task<ClusterStacks> GetClusterStacksAsync(TimeSpan? threshold = null, CancellationToken cancellationToken = default);
}

/// <summary>What both readers share: the stitching, and the stuck threshold when none is given.</summary>
internal abstract class GrainStacksBase(IOptions<StackscopeOrleansOptions> options) : IGrainStacks
{
    protected StackscopeOrleansOptions Settings => options.Value;

    public abstract SiloStacks GetSiloStacks();

    public async Task<ClusterStacks> GetClusterStacksAsync(TimeSpan? threshold = null, CancellationToken cancellationToken = default)
    {
        SiloReports reports = await ReadReportsAsync(cancellationToken).ConfigureAwait(false);
        // Orleans' own warning time for slow requests unless configured: the smallest the silos report.
        TimeSpan rule = threshold ?? Settings.StuckThreshold
            ?? reports.Silos.Select(static r => r.RequestWarningTime).OfType<TimeSpan>().DefaultIfEmpty(StuckRule.DefaultThreshold).Min();
        return CallChains.Stitch(reports.Silos, rule, reports.Errors);
    }

    public abstract Task<SiloReports> ReadReportsAsync(CancellationToken cancellationToken);

    /// <summary>An exception as one short line: its type and the first 200 characters of its message.</summary>
    protected static string Reason(Exception e)
    {
        string message = e.Message.ReplaceLineEndings(" ");
        return $"{e.GetType().Name}: {(message.Length > 200 ? message[..200] + "…" : message)}";
    }
}

/// <summary>
/// A silo's reader: itself in place, the other active members (its own membership view, no grain call) through their grain
/// services, system targets addressed to each silo directly, so no grain-directory lookup can be held up by another silo.
/// </summary>
internal sealed class SiloGrainStacks(SiloScanner scanner, IOptions<StackscopeOrleansOptions> options, ILocalSiloDetails local,
    IClusterMembershipService membership, ISiloStacksClient client) : GrainStacksBase(options)
{
    public override SiloStacks GetSiloStacks() => scanner.Read();

    public override async Task<SiloReports> ReadReportsAsync(CancellationToken cancellationToken)
    {
        TimeSpan bound = Settings.ReadBound;
        // The other silos are asked first, so that they scan while this one does.
        List<Task<SiloStacks>> asked = membership.CurrentSnapshot.Members.Values
            .Where(m => m.Status == SiloStatus.Active && !m.SiloAddress.Equals(local.SiloAddress))
            .Select(async member =>
            {
                try
                {
                    return await client.GetStacks(member.SiloAddress).WaitAsync(bound, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception e) when (!cancellationToken.IsCancellationRequested)
                {
                    string why = e is TimeoutException ? $"did not answer within {GlueText.Duration(bound)}" : $"did not answer: {Reason(e)}";
                    return new SiloStacks { Silo = member.Name ?? member.SiloAddress.ToString(), Address = member.SiloAddress.ToString(), Answered = false, Errors = [why] };
                }
            })
            .ToList();
        var reports = new List<SiloStacks> { await scanner.ReadAsync().ConfigureAwait(false) };
        reports.AddRange(await Task.WhenAll(asked).ConfigureAwait(false));
        return new SiloReports(reports, []);
    }
}

/// <summary>
/// A cluster client's reader: asks a silo to gather every silo's report (<see cref="IClusterStacksGrain"/>, a stateless worker
/// on the client's gateway), three at once under keys the client spreads over its gateways; the first answer is taken.
/// Within <see cref="StackscopeOrleansOptions.ReadBound"/> plus 2 s, twice that if a whole first wave fails.
/// </summary>
internal sealed class ClientGrainStacks(IOptions<StackscopeOrleansOptions> options, IGrainFactory grains) : GrainStacksBase(options)
{
    /// <summary>How many reader keys there are: at most this many stateless-worker activations per silo, whatever the number of reads.</summary>
    private const int Keys = 6;

    /// <summary>How many gatherers are asked at once.</summary>
    private const int Wave = 3;

    /// <summary>What a gathering silo is given beyond its own per-silo bound before it counts as not answering.</summary>
    private static readonly TimeSpan s_gatherSlack = TimeSpan.FromSeconds(2);

    public override SiloStacks GetSiloStacks() =>
        new() { Silo = "(cluster client)", Address = "-", Errors = ["this host is a cluster client: it runs no silo (GetClusterStacksAsync reads every silo)"] };

    public override async Task<SiloReports> ReadReportsAsync(CancellationToken cancellationToken)
    {
        TimeSpan bound = Settings.ReadBound + s_gatherSlack;
        TimeSpan budget = bound + bound; // a wave whose gateways all hang, then another
        var clock = System.Diagnostics.Stopwatch.StartNew();
        int first = Random.Shared.Next(Keys);
        var failures = new List<string>();
        // Three gatherers at once, under keys the client maps to gateways (sticky, spread over the live ones), so usually
        // through different gateways: a gateway that hangs (a frozen silo) then costs nothing, and reads are rare enough that
        // the repeated work is cheap. If a whole wave fails (gateways gone, or all behind one frozen silo), three other keys.
        for (int wave = 0; wave < Keys / Wave && clock.Elapsed < budget; wave++)
        {
            TimeSpan wait = bound < budget - clock.Elapsed ? bound : budget - clock.Elapsed;
            List<Task<SiloReports>> gathering = Enumerable.Range(first + Wave * wave, Wave)
                .Select(key => grains.GetGrain<IClusterStacksGrain>(key % Keys).Read().WaitAsync(wait, cancellationToken)).ToList();
            while (gathering.Count > 0)
            {
                Task<SiloReports> done = await Task.WhenAny(gathering).ConfigureAwait(false);
                gathering.Remove(done);
                if (done.IsCompletedSuccessfully)
                {
                    return done.Result;
                }
                cancellationToken.ThrowIfCancellationRequested();
                Exception e = done.Exception?.InnerException ?? new OperationCanceledException();
                failures.Add(e is TimeoutException ? $"no silo gathered the reports within {GlueText.Duration(bound)}" : $"gathering the reports failed: {Reason(e)}");
            }
        }
        return new SiloReports([], failures);
    }
}
