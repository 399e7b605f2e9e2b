using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace Stackscope.Orleans.Silo;

/// <summary>
/// How the test clusters are configured, written once for the silo processes and the test's client: membership in Redis
/// under a cluster id of the test's own, 127.0.0.1 only, a killed silo declared dead within seconds (not the production
/// minute), and calls suspended on purpose by a test not timing out while it looks at them.
/// </summary>
public static class ClusterSettings
{
    /// <summary>The service id of every test cluster (each has its own cluster id).</summary>
    public const string ServiceId = "stackscope-tests";

    /// <summary>How long a grain call may wait for its answer, in the silos and the client.</summary>
    public static readonly TimeSpan ResponseTimeout = TimeSpan.FromMinutes(2);

    /// <summary>A silo of cluster <paramref name="clusterId"/>, its membership in <paramref name="redis"/>, on free ports of 127.0.0.1.</summary>
    public static ISiloBuilder UseTestCluster(this ISiloBuilder silo, string redis, string clusterId, string name) => silo
        .UseRedisClustering(redis)
        .Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = ServiceId; })
        .Configure<SiloOptions>(o => o.SiloName = name)
        .ConfigureEndpoints(IPAddress.Loopback, FreePort(), FreePort(), listenOnAnyHostAddress: false)
        .Configure<ClusterMembershipOptions>(o =>
        {
            // Probes start every second or so; three missed suspect a silo, and two votes (the other silos') declare it dead.
            o.ProbeTimeout = TimeSpan.FromSeconds(1);
            o.NumMissedProbesLimit = 3;
            o.TableRefreshTimeout = TimeSpan.FromSeconds(2);
            o.IAmAliveTablePublishTimeout = TimeSpan.FromSeconds(5);
            o.DeathVoteExpirationTimeout = TimeSpan.FromSeconds(30);
            o.DefunctSiloExpiration = TimeSpan.FromMinutes(1);
        })
        .Configure<SiloMessagingOptions>(o => o.ResponseTimeout = ResponseTimeout);

    /// <summary>A client of cluster <paramref name="clusterId"/>, finding its gateways in <paramref name="redis"/> (refreshed every second).</summary>
    public static IClientBuilder UseTestCluster(this IClientBuilder client, string redis, string clusterId) => client
        .UseRedisClustering(redis)
        .Configure<ClusterOptions>(o => { o.ClusterId = clusterId; o.ServiceId = ServiceId; })
        .Configure<ClientMessagingOptions>(o => o.ResponseTimeout = ResponseTimeout)
        .Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(1));

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
