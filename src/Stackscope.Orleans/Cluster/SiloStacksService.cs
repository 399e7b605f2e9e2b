using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Runtime;
using Orleans.Runtime.Services;
using Orleans.Services;
using Stackscope.Orleans.Inspection;

namespace Stackscope.Orleans.Cluster;

/// <summary>Runs on every silo: reads that silo for a caller on another silo (a grain service: a system target with its own scheduler, so busy grains cannot hold it up).</summary>
[Alias("stackscope.ISiloStacksService")]
internal interface ISiloStacksService : IGrainService
{
    /// <summary>This silo's busy activations and their requests' stacks.</summary>
    [Alias("GetStacks")]
    Task<SiloStacks> GetStacks();
}

internal sealed class SiloStacksService(GrainId id, Silo silo, ILoggerFactory loggerFactory, SiloScanner scanner)
    : GrainService(id, silo, loggerFactory), ISiloStacksService
{
    /// <summary>Shares the scan with any other reader of this silo at the moment (<see cref="SiloScanner"/>).</summary>
    public Task<SiloStacks> GetStacks() => scanner.ReadAsync();
}

/// <summary>Reaches <see cref="ISiloStacksService"/> on a given silo.</summary>
internal interface ISiloStacksClient : IGrainServiceClient<ISiloStacksService>
{
    /// <summary>The stacks of the silo at <paramref name="silo"/>.</summary>
    Task<SiloStacks> GetStacks(SiloAddress silo);
}

internal sealed class SiloStacksClient(IServiceProvider services) : GrainServiceClient<ISiloStacksService>(services), ISiloStacksClient
{
    public Task<SiloStacks> GetStacks(SiloAddress silo) => GetGrainService(silo).GetStacks();
}
