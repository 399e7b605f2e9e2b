using System.Net;
using System.Net.Sockets;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Containers;

namespace Stackscope.Docker;

/// <summary>
/// Starts a service of this folder's images (built by scripts/ensure-docker.sh; STACKSCOPE_POSTGRES_IMAGE and
/// STACKSCOPE_REDIS_IMAGE override them) with Testcontainers, the way users test: host networking, no private network,
/// the service listening on 127.0.0.1 at a free port chosen here. What each image needs (its port variable, its ready
/// line, how clients connect) is written once, here; linked into the tests, the samples and the benchmarks that use it.
/// </summary>
internal static class ServiceContainers
{
    /// <summary>Starts <paramref name="kind"/> (<c>postgres</c> or <c>redis</c>); returns the running container and a connection string.</summary>
    /// <param name="kind">The service.</param>
    /// <param name="clientOptions">Connection-string options appended for the client (timeouts, pool size), or empty.</param>
    public static async Task<(IContainer Container, string Connection)> StartAsync(string kind, string clientOptions = "")
    {
        int port = FreePort();
        (string image, string connection, string ready, string portVariable) = kind switch
        {
            "postgres" => (Environment.GetEnvironmentVariable("STACKSCOPE_POSTGRES_IMAGE") ?? "stackscope/postgres:15",
                $"Host=127.0.0.1;Port={port};Username=postgres;Password=stackscope;Database=postgres",
                "database system is ready to accept connections", "PGPORT"),
            "redis" => (Environment.GetEnvironmentVariable("STACKSCOPE_REDIS_IMAGE") ?? "stackscope/redis:7",
                $"127.0.0.1:{port}", "Ready to accept connections", "REDIS_PORT"),
            _ => throw new ArgumentException($"unknown service '{kind}': postgres or redis", nameof(kind)),
        };
        IContainer container = new ContainerBuilder(image)
            .WithCreateParameterModifier(static p => p.HostConfig!.NetworkMode = "host") // 127.0.0.1 only, no private network
            .WithEnvironment(portVariable, port.ToString())
            .WithWaitStrategy(Wait.ForUnixContainer().UntilMessageIsLogged(ready))
            .WithCleanUp(true)
            .Build();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await container.StartAsync(timeout.Token);
        string separator = kind == "postgres" ? ";" : ",";
        return (container, clientOptions.Length == 0 ? connection : connection + separator + clientOptions);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
