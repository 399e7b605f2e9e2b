using System.Diagnostics;
using System.Reflection;
using DotNet.Testcontainers.Containers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime;
using Orleans.Runtime.Placement;
using Stackscope.Orleans.Silo;
using Stackscope.Tests;

namespace Stackscope.Orleans.Benchmarks;

/// <summary>
/// A multi-process Orleans cluster for a benchmark: Redis started by Testcontainers (host networking, 127.0.0.1), silos
/// each in its own OS process (<see cref="SiloRole"/>), and a client-only host in the benchmark's process. Every wait
/// across processes is bounded; <see cref="DisposeAsync"/> ends every silo by its process id and the container.
/// </summary>
internal sealed class BenchCluster : IAsyncDisposable
{
    /// <summary>The bound of each wait on a silo process or on the cluster's membership.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private readonly List<SiloRoleProcess> _silos = [];
    private IContainer? _redis;
    private IHost? _clientHost;

    private BenchCluster()
    {
    }

    public IReadOnlyList<SiloRoleProcess> Silos => _silos;

    public IClusterClient Client { get; private set; } = null!;

    /// <summary>Stackscope's reader in the client-only host (when started with it).</summary>
    public IGrainStacks Stacks => _clientHost!.Services.GetRequiredService<IGrainStacks>();

    /// <summary>What every silo printed (its stdout protocol, the runtime's warnings on stderr), for error messages.</summary>
    public string Output => string.Join("\n", _silos.Select(static s => s.Process.Output));

    /// <summary>
    /// Starts Redis, <paramref name="silos"/> silo processes (silo-1, silo-2, …) with <paramref name="stackscope"/> ("off",
    /// "default" or "track"), the client host (with <c>AddStackscope(o =&gt; o.StuckThreshold = TimeSpan.Zero)</c> when
    /// <paramref name="clientReader"/>), and waits until the cluster has every silo active. Everything started is ended
    /// if it fails.
    /// </summary>
    public static async Task<BenchCluster> StartAsync(int silos, string stackscope, bool clientReader)
    {
        var cluster = new BenchCluster();
        var clock = Stopwatch.StartNew();
        try
        {
            await cluster.StartCoreAsync(silos, stackscope, clientReader);
            Console.WriteLine($"// cluster of {silos} silo processes (stackscope {stackscope}) started in {clock.Elapsed.TotalSeconds:F1} s: "
                + string.Join(", ", cluster._silos.Select(static s => $"{s.Name} process {s.Process.Id}")));
            return cluster;
        }
        catch (Exception e)
        {
            string output = cluster.Output;
            await cluster.DisposeAsync();
            throw new InvalidOperationException($"the cluster did not start ({clock.Elapsed.TotalSeconds:F1} s): {e.Message}\n{output}", e);
        }
    }

    private async Task StartCoreAsync(int silos, string stackscope, bool clientReader)
    {
        string clusterId = "stackscope-bench-" + Guid.NewGuid().ToString("N")[..12];
        (_redis, string redis) = await Docker.ServiceContainers.StartAsync("redis", "abortConnect=false,connectTimeout=5000,syncTimeout=5000");
        // One after the other: each silo picks its ports free at that moment (ClusterSettings), so the next one started only
        // once this one listens cannot pick the same. Started at once, two silos of a run took the same address.
        for (int i = 0; i < silos; i++)
        {
            SiloRoleProcess silo = SiloRoleProcess.Start(redis, clusterId, $"silo-{i + 1}", stackscope);
            _silos.Add(silo);
            await silo.WaitReadyAsync();
        }
        if (_silos.Select(static s => s.Address).Distinct().Count() != silos)
        {
            throw new InvalidOperationException("two silos took the same address: " + string.Join(", ", _silos.Select(static s => $"{s.Name} {s.Address}")));
        }
        _clientHost = new HostBuilder()
            .UseOrleansClient(client =>
            {
                client.UseTestCluster(redis, clusterId);
                if (clientReader)
                {
                    client.AddStackscope(o => o.StuckThreshold = TimeSpan.Zero);
                }
            })
            .Build();
        using (var connecting = new CancellationTokenSource(Bound))
        {
            await _clientHost.StartAsync(connecting.Token);
        }
        Client = _clientHost.Services.GetRequiredService<IClusterClient>();
        await WaitForAllActiveAsync();
    }

    /// <summary>Waits (bounded) until the membership has exactly this cluster's silos active, asking every 250 ms (each ask bounded).</summary>
    private async Task WaitForAllActiveAsync()
    {
        var clock = Stopwatch.StartNew();
        string last = "no answer";
        while (clock.Elapsed < Bound)
        {
            try
            {
                Dictionary<SiloAddress, SiloStatus> hosts = await Client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true).WaitAsync(TimeSpan.FromSeconds(5));
                if (hosts.Count == _silos.Count && _silos.All(s => hosts.ContainsKey(s.Address)))
                {
                    return;
                }
                last = string.Join(", ", hosts.Select(static h => $"{h.Key} {h.Value}"));
            }
            catch (Exception e) when (e is TimeoutException or OrleansException)
            {
                last = $"{e.GetType().Name}: {e.Message.Split('\n')[0]}";
            }
            await Task.Delay(250);
        }
        throw new TimeoutException($"not all {_silos.Count} silos active within {Bound}; last answer: {last}");
    }

    /// <summary>
    /// Calls <paramref name="call"/> with Orleans' placement hint for <paramref name="silo"/>: a grain the call activates is
    /// placed there (a grain already active stays where it is).
    /// </summary>
    public T OnSilo<T>(SiloRoleProcess silo, Func<IClusterClient, T> call)
    {
        RequestContext.Set(IPlacementDirector.PlacementHintKey, silo.Address);
        try
        {
            return call(Client);
        }
        finally
        {
            RequestContext.Remove(IPlacementDirector.PlacementHintKey);
        }
    }

    /// <summary>Stops the client host (bounded), then every silo (asked to stop, ended by its id 10 s later at most), then Redis.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_clientHost is not null)
            {
                using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                try
                {
                    await _clientHost.StopAsync(stopping.Token);
                }
                finally
                {
                    _clientHost.Dispose();
                    _clientHost = null;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or OrleansException or TimeoutException)
        {
            // bounded: the silos are ended below whatever the client does
        }
        finally
        {
            await Task.WhenAll(_silos.Select(static s => Task.Run(s.Dispose)));
            _silos.Clear();
            if (_redis is not null)
            {
                await _redis.DisposeAsync();
                _redis = null;
            }
        }
    }
}

/// <summary>A <see cref="SiloRole"/> process: this assembly run again with <c>dotnet exec</c>, speaking lines on stdio.</summary>
internal sealed class SiloRoleProcess(string name, LineProcess process) : IDisposable
{
    public string Name { get; } = name;

    public LineProcess Process { get; } = process;

    /// <summary>Its address in the cluster, as printed on its ready line.</summary>
    public SiloAddress Address { get; private set; } = null!;

    public static SiloRoleProcess Start(string redis, string clusterId, string name, string stackscope)
    {
        // This assembly, with the runtime config and dependencies of the entry assembly: in BenchmarkDotNet's generated
        // child process (where benchmarks run) that is the generated program, beside which this assembly is copied.
        // LineProcess runs `dotnet exec <first> <rest>`: the host's options go first, then this assembly and its arguments.
        string entry = Assembly.GetEntryAssembly()!.Location;
        string[] args =
        [
            Path.ChangeExtension(entry, ".runtimeconfig.json"), "--depsfile", Path.ChangeExtension(entry, ".deps.json"),
            typeof(SiloRole).Assembly.Location, "--silo-role", "--redis", redis, "--cluster", clusterId, "--name", name, "--stackscope", stackscope,
        ];
        return new SiloRoleProcess(name, LineProcess.Start(name, "--runtimeconfig", args));
    }

    public async Task WaitReadyAsync()
    {
        string ready = await Process.WaitForLineAsync(static l => l.StartsWith("ready ", StringComparison.Ordinal), BenchCluster.Bound, "its ready line");
        Address = SiloAddress.FromParsableString(ready["ready ".Length..]);
    }

    /// <summary>Asks for its own scan's time (<see cref="SiloRole"/>'s "measure"); the answer's text. Once per process.</summary>
    public async Task<string> MeasureScanAsync()
    {
        Process.Send("measure");
        string line = await Process.WaitForLineAsync(static l => l.StartsWith("measured ", StringComparison.Ordinal), BenchCluster.Bound, "its measured line");
        return line["measured ".Length..];
    }

    /// <summary>Asks it to stop (it releases its held requests and leaves the cluster) for 10 s, then ends it by its id.</summary>
    public void Dispose()
    {
        Process.Stop("stop", TimeSpan.FromSeconds(10));
        Process.Dispose();
    }
}
