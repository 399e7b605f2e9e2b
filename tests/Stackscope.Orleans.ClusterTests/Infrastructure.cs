using System.Diagnostics;
using DotNet.Testcontainers.Containers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Runtime;
using Orleans.Runtime.Placement;
using Stackscope.Orleans.Silo;
using Stackscope.Tests;
using Xunit.Abstractions;

namespace Stackscope.Orleans.ClusterTests;

/// <summary>
/// One Orleans silo in its own OS process (tests/Stackscope.Orleans.Silo), clustered through Redis, ended by its process
/// id. Its grains say "entered &lt;key&gt;" on stdout when suspended at a gate; the test releases them with a line on stdin
/// (<see cref="GatedProcess"/>). Every wait is bounded and fails with what the process printed.
/// </summary>
public sealed class SiloProcess : GatedProcess
{
    private SiloProcess(string name, LineProcess process) : base(name, process)
    {
    }

    /// <summary>Its address in the cluster, as it printed it once started (null before <see cref="WaitReadyAsync"/>).</summary>
    public SiloAddress Address { get; private set; } = null!;

    /// <summary>Starts a silo process (it joins the cluster <paramref name="clusterId"/> in Redis); <see cref="WaitReadyAsync"/> waits for it.</summary>
    public static SiloProcess Start(string redis, string clusterId, string name, bool stackscope = true)
    {
        string dll = LineProcess.BuildOutputOf("Stackscope.Orleans.ClusterTests", "Stackscope.Orleans.Silo");
        var args = new List<string> { "--redis", redis, "--cluster", clusterId, "--name", name };
        if (!stackscope)
        {
            args.Add("--no-stackscope");
        }
        return new SiloProcess(name, LineProcess.Start(name, dll, args));
    }

    /// <summary>Starts a silo process and waits until it has joined the cluster.</summary>
    public static async Task<SiloProcess> StartAsync(string redis, string clusterId, string name, bool stackscope = true)
    {
        SiloProcess silo = Start(redis, clusterId, name, stackscope);
        try
        {
            await silo.WaitReadyAsync();
            return silo;
        }
        catch
        {
            silo.Dispose();
            throw;
        }
    }

    /// <summary>Waits (bounded) for its "ready &lt;address&gt;" line: the silo has started and joined the cluster.</summary>
    public async Task WaitReadyAsync()
    {
        string ready = await Lines.WaitForLineAsync(static l => l.StartsWith("ready ", StringComparison.Ordinal), Bound, "its ready line");
        Address = SiloAddress.FromParsableString(ready["ready ".Length..]);
    }
}

/// <summary>
/// Three silos (silo-1, silo-2, silo-3), each its own OS process, clustered through Redis (a container, host networking,
/// 127.0.0.1), and a client-only Orleans host in the test process connected to them. Shared by the tests of the
/// <see cref="OrleansClusterCollection"/>; a test that kills a silo puts a new one in its place (<see cref="ReplaceAsync"/>).
/// </summary>
public sealed class OrleansCluster : IAsyncLifetime
{
    public const int SiloCount = 3;

    /// <summary>The bound of waits on the cluster's membership (a silo joining, a killed silo declared dead).</summary>
    public static readonly TimeSpan MembershipBound = TimeSpan.FromSeconds(45);

    private readonly SiloProcess?[] _silos = new SiloProcess?[SiloCount];
    private IContainer? _redis;
    private IHost? _clientHost;

    /// <summary>The Redis connection string (127.0.0.1:port) the cluster's membership lives in.</summary>
    public string Redis { get; private set; } = "";

    /// <summary>This fixture's own cluster id (separate runs never share a membership table).</summary>
    public string ClusterId { get; } = "stackscope-" + Guid.NewGuid().ToString("N")[..12];

    /// <summary>The silos: <c>Silos[0]</c> is silo-1, and so on.</summary>
    public IReadOnlyList<SiloProcess> Silos => _silos.Select(static s => s!).ToArray();

    /// <summary>The client of the test process's Orleans host (a client only: this process hosts no grain).</summary>
    public IClusterClient Client { get; private set; } = null!;

    /// <summary>How long <see cref="InitializeAsync"/> took: Redis, the silos, the client, all silos seen active.</summary>
    public TimeSpan StartupTime { get; private set; }

    public static string SiloName(int index) => $"silo-{index + 1}";

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        try
        {
            (_redis, Redis) = await Docker.ServiceContainers.StartAsync("redis", "abortConnect=false,connectTimeout=5000,syncTimeout=5000");
            // One after the other: each silo picks its ports free at that moment (ClusterSettings), so one started only once the
            // previous listens cannot pick the same. Started at once, two silos could take the same address (seen in the
            // benchmarks' cluster, which starts its silos the same way).
            for (int i = 0; i < SiloCount; i++)
            {
                _silos[i] = SiloProcess.Start(Redis, ClusterId, SiloName(i));
                await _silos[i]!.WaitReadyAsync();
            }
            if (_silos.Select(static s => s!.Address).Distinct().Count() != SiloCount)
            {
                throw new InvalidOperationException("two silos took the same address: " + string.Join(", ", _silos.Select(static s => $"{s!.Name} {s.Address}")));
            }
            _clientHost = new HostBuilder()
                // This process is only a cluster client, as an admin app is: Stackscope reads every silo through the cluster.
                .UseOrleansClient(client => client.UseTestCluster(Redis, ClusterId).AddStackscope(o => o.StuckThreshold = TimeSpan.Zero))
                .Build();
            using (var connecting = new CancellationTokenSource(MembershipBound))
            {
                await _clientHost.StartAsync(connecting.Token);
            }
            Client = _clientHost.Services.GetRequiredService<IClusterClient>();
            await WaitForActiveAsync(active => _silos.All(s => active.Contains(s!.Address)), $"all {SiloCount} silos active");
            StartupTime = clock.Elapsed;
        }
        catch (Exception e)
        {
            string output = string.Join("\n", _silos.Where(static s => s is not null).Select(static s => s!.Output));
            await DisposeAsync();
            throw new InvalidOperationException($"the cluster did not start ({clock.Elapsed.TotalSeconds:F1} s): {e.GetType().Name}: {e.Message.Split('\n')[0]}\n{output}", e);
        }
    }

    public async Task DisposeAsync()
    {
        if (_clientHost is not null)
        {
            using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                await _clientHost.StopAsync(stopping.Token);
            }
            catch (OperationCanceledException)
            {
                // bounded: the silos are ended below whatever the client does
            }
            _clientHost.Dispose();
            _clientHost = null;
        }
        // In parallel: each asked to stop, ended by its id past the bound.
        await Task.WhenAll(_silos.Where(static s => s is not null).Select(static s => Task.Run(s!.Dispose)));
        Array.Clear(_silos);
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
            _redis = null;
        }
    }

    /// <summary>
    /// The silos and their status as the cluster's membership has them (<c>IManagementGrain.GetHosts</c>), asked through
    /// the client, bounded (<paramref name="timeout"/>, 10 s by default).
    /// </summary>
    public Task<Dictionary<SiloAddress, SiloStatus>> HostsAsync(bool onlyActive = true, TimeSpan? timeout = null) =>
        Client.GetGrain<IManagementGrain>(0).GetHosts(onlyActive).WaitAsync(timeout ?? TimeSpan.FromSeconds(10));

    /// <summary>
    /// Waits (bounded, <see cref="MembershipBound"/> by default) until the set of active silos satisfies
    /// <paramref name="condition"/>, asking every 250 ms; fails naming <paramref name="what"/> and the answers seen.
    /// Returns the answers seen before (each change, with its time), for a test's output.
    /// </summary>
    public async Task<string> WaitForActiveAsync(Func<IReadOnlyCollection<SiloAddress>, bool> condition, string what, TimeSpan? timeout = null)
    {
        TimeSpan bound = timeout ?? MembershipBound;
        var clock = Stopwatch.StartNew();
        var seen = new List<string>();
        while (true)
        {
            string answer;
            try
            {
                // Each ask bounded on its own: a call sent through the gateway of a silo just killed can go unanswered.
                Dictionary<SiloAddress, SiloStatus> hosts = await HostsAsync(timeout: TimeSpan.FromSeconds(3));
                if (condition(hosts.Keys))
                {
                    seen.Add($"at {clock.Elapsed.TotalSeconds:F1} s: {what}");
                    return string.Join("\n", seen);
                }
                answer = string.Join(", ", hosts.Select(h => $"{NameOf(h.Key)} {h.Value}"));
            }
            catch (Exception e) when (e is TimeoutException or OrleansException or OperationCanceledException)
            {
                answer = $"{e.GetType().Name}: {e.Message.Split('\n')[0]}";
            }
            if (seen.Count == 0 || !seen[^1].EndsWith(answer, StringComparison.Ordinal))
            {
                seen.Add($"at {clock.Elapsed.TotalSeconds:F1} s: {answer}");
            }
            if (clock.Elapsed >= bound)
            {
                throw new TimeoutException($"not {what} within {bound}; active silos seen:\n{string.Join("\n", seen)}");
            }
            await Task.Delay(250);
        }
    }

    /// <summary>Waits (bounded, <see cref="MembershipBound"/> by default) until the cluster no longer has <paramref name="silo"/> active (killed or stopped).</summary>
    public Task<string> WaitUntilNotActiveAsync(SiloProcess silo, TimeSpan? timeout = null) =>
        WaitForActiveAsync(active => !active.Contains(silo.Address), $"{silo.Name} gone from the active silos", timeout);

    /// <summary>
    /// Puts a new silo process in the place of <paramref name="silo"/> (ended by its id if it still runs), with the same
    /// name and a new address, and waits until the cluster has it active.
    /// </summary>
    public async Task<SiloProcess> ReplaceAsync(SiloProcess silo)
    {
        int index = Array.IndexOf(_silos, silo);
        if (index < 0)
        {
            throw new ArgumentException($"{silo.Name} (process {silo.Id}) is not one of this cluster's silos", nameof(silo));
        }
        silo.Kill();
        silo.Dispose();
        SiloProcess fresh = _silos[index] = SiloProcess.Start(Redis, ClusterId, silo.Name);
        await fresh.WaitReadyAsync();
        await WaitForActiveAsync(active => active.Contains(fresh.Address), $"{fresh.Name} (new) active");
        return fresh;
    }

    /// <summary>
    /// Calls <paramref name="call"/> with the placement hint for <paramref name="silo"/>: a grain the call activates is placed
    /// there (a grain already active somewhere stays where it is: use a key of the test's own).
    /// </summary>
    public T OnSilo<T>(SiloProcess silo, Func<IClusterClient, T> call)
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

    /// <summary>Stackscope's reader in this client-only process.</summary>
    public IGrainStacks Stacks => _clientHost!.Services.GetRequiredService<IGrainStacks>();

    /// <summary>The silo process at <paramref name="address"/>, or null.</summary>
    public SiloProcess? SiloAt(SiloAddress address) => _silos.FirstOrDefault(s => s?.Address.Equals(address) == true);

    private string NameOf(SiloAddress address) => SiloAt(address)?.Name ?? address.ToString();
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class OrleansClusterCollection : ICollectionFixture<OrleansCluster>
{
    public const string Name = "orleans-cluster";
}

/// <summary>
/// A test on the shared cluster: at its end every gate still held in any silo is released (no request stays suspended
/// into the next test) and what each silo printed during the test is written to the test's output.
/// </summary>
[Collection(OrleansClusterCollection.Name)]
public abstract class ClusterTest(OrleansCluster cluster, ITestOutputHelper output) : GatedProcessTest(() => cluster.Silos, output)
{
    protected OrleansCluster Cluster { get; } = cluster;

    protected IReadOnlyList<SiloProcess> Silos => Cluster.Silos;
}
