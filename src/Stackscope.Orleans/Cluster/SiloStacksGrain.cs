using Microsoft.Extensions.Options;
using Orleans.Placement;
using Orleans.Runtime;
using Orleans.Runtime.Placement;
using Stackscope.Orleans.Inspection;

namespace Stackscope.Orleans.Cluster;

/// <summary>
/// Reads one silo for a reader anywhere in the cluster or outside it (a cluster client): one activation per silo, keyed by
/// the silo's address and placed on that silo (<see cref="SiloByKeyPlacement"/>), so that whoever can call a grain can
/// read every silo. Its one method is synchronous: it never holds its activation, and busy grains cannot hold it up.
/// </summary>
[Alias("stackscope.ISiloStacksGrain")]
internal interface ISiloStacksGrain : IGrainWithStringKey
{
    /// <summary>This silo's busy activations and their requests' stacks.</summary>
    [Alias("GetStacks")]
    Task<SiloStacks> GetStacks();
}

[SiloByKeyPlacement]
internal sealed class SiloStacksGrain(IServiceProvider services, IOptions<StackscopeOrleansOptions> options, ILocalSiloDetails local) : Grain, ISiloStacksGrain
{
    /// <summary>The grain key that reads <paramref name="silo"/>.</summary>
    public static string KeyOf(SiloAddress silo) => silo.ToParsableString();

    public Task<SiloStacks> GetStacks() => Task.FromResult(this.GetPrimaryKeyString() == KeyOf(local.SiloAddress)
        ? SiloScan.Read(services, options.Value)
        // Cannot happen through the director; said plainly rather than answering for the wrong silo if it ever does.
        : new SiloStacks { Silo = local.Name, Address = local.SiloAddress.ToString(), Errors = [$"asked for silo {this.GetPrimaryKeyString()}, placed on {local.SiloAddress}"] });
}

/// <summary>Places an activation on the silo its key names (<see cref="SiloAddress.ToParsableString"/>), or nowhere.</summary>
[GenerateSerializer, Immutable, SuppressReferenceTracking, Alias("stackscope.silo-by-key")]
internal sealed class SiloByKeyPlacement : PlacementStrategy
{
    public static readonly SiloByKeyPlacement Instance = new();
}

/// <summary>Marks a grain class placed by <see cref="SiloByKeyPlacement"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
internal sealed class SiloByKeyPlacementAttribute() : PlacementAttribute(SiloByKeyPlacement.Instance);

/// <summary>
/// The director of <see cref="SiloByKeyPlacement"/>: the silo whose address is the grain's key, if it is active and hosts
/// the grain class; otherwise the activation fails (the reader lists that silo as not answering), never lands elsewhere.
/// </summary>
internal sealed class SiloByKeyPlacementDirector : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        string key = target.GrainIdentity.Key.ToString() ?? string.Empty;
        foreach (SiloAddress silo in context.GetCompatibleSilos(target))
        {
            if (SiloStacksGrain.KeyOf(silo) == key)
            {
                return Task.FromResult(silo);
            }
        }
        throw new OrleansException($"silo {key} is not an active silo running Stackscope");
    }
}
