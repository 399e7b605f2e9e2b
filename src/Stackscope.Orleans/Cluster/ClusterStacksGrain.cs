using Orleans.Concurrency;

namespace Stackscope.Orleans.Cluster;

/// <summary>Every silo's report and what kept any from being read, as one silo gathered them.</summary>
[GenerateSerializer, Immutable, Alias("stackscope.reports")]
internal sealed record SiloReports([property: Id(0)] IReadOnlyList<SiloStacks> Silos, [property: Id(1)] IReadOnlyList<string> Errors);

/// <summary>
/// How a cluster client reads the cluster: a stateless worker, so it runs on the silo that receives the call (the client's
/// gateway) with no grain-directory registration, and that silo gathers every silo's report the way a silo does
/// (<see cref="SiloGrainStacks"/>: itself in place, the others through their grain services, each bounded). A silo
/// frozen or down therefore costs its own report only, never the directory lookups a grain placed elsewhere would need.
/// </summary>
[Alias("stackscope.IClusterStacksGrain")]
internal interface IClusterStacksGrain : IGrainWithIntegerKey
{
    [Alias("Read")]
    Task<SiloReports> Read();
}

[StatelessWorker]
internal sealed class ClusterStacksGrain(IGrainStacks stacks) : Grain, IClusterStacksGrain
{
    public Task<SiloReports> Read() => ((SiloGrainStacks)stacks).ReadReportsAsync(CancellationToken.None);
}
