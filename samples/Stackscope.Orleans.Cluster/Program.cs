using System.Net;
using System.Text.Json;
using DotNet.Testcontainers.Containers;
using Orleans.Configuration;
using Orleans.Core.Internal;
using Orleans.Runtime;
using Orleans.Runtime.Placement;
using OrleansShop;
using Stackscope.Orleans;
using Stackscope.Samples;

// One command, a whole Orleans deployment on this machine: Redis in a container (Testcontainers, the image
// scripts/ensure-docker.sh builds) holding the cluster's membership, three silos and an admin web app that is only a
// cluster client, each its own process (this program, started again with --role). This process is the shop's front end,
// a cluster client too: it places an order whose calls cross the three silos and never finish, and a transfer between two
// wallets that deadlocks across two silos. `--check` fetches the admin endpoint from the admin app (JSON, checked; text,
// printed) and exits 0 (non-zero with the reason); without it everything keeps running until Enter and the page's URL is printed.
return args.Contains("--role") ? await Roles.RunAsync(args) : await Orchestrator.RunAsync(check: args.Contains("--check"));

internal static class Orchestrator
{
    /// <summary>How long each wait may take: silos starting on a busy machine, the calls reaching their suspension points.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    public static async Task<int> RunAsync(bool check)
    {
        var children = new ChildProcesses();
        IContainer? redis = null;
        IHost? frontEnd = null;
        try
        {
            Console.Error.WriteLine("starting Redis on 127.0.0.1 (Testcontainers)…");
            (redis, string connection) = await Stackscope.Docker.ServiceContainers.StartAsync("redis");
            string cluster = "shop-" + Guid.NewGuid().ToString("N")[..8]; // a fresh cluster (and membership table) each run
            for (int i = 1; i <= 3; i++)
            {
                children.Start($"silo-{i}", "--role", "silo", "--redis", connection, "--cluster", cluster, "--name", $"silo-{i}",
                    "--silo-port", ChildProcesses.FreePort().ToString(), "--gateway-port", ChildProcesses.FreePort().ToString());
            }
            int adminPort = ChildProcesses.FreePort();
            string url = $"http://127.0.0.1:{adminPort}/admin/stackscope";
            children.Start("admin", "--role", "admin", "--redis", connection, "--cluster", cluster, "--port", adminPort.ToString());

            HostApplicationBuilder builder = Host.CreateApplicationBuilder();
            Deployment.Log(builder.Logging);
            builder.UseOrleansClient(client => Deployment.Connect(client, connection, cluster));
            frontEnd = builder.Build();
            using (var starting = new CancellationTokenSource(Bound))
            {
                try
                {
                    await frontEnd.StartAsync(starting.Token);
                }
                catch (OperationCanceledException) when (starting.IsCancellationRequested)
                {
                    throw new TimeoutException($"the front end did not connect to a silo within {Bound.TotalSeconds:0} s");
                }
            }
            IClusterClient shop = frontEnd.Services.GetRequiredService<IClusterClient>();
            Dictionary<string, SiloAddress> silos = await WaitForSilosAsync(shop, children);

            // Each grain activated on its silo first; later calls, from any silo, go where it lives.
            await PlaceAsync(shop, shop.GetGrain<IOrderGrain>("1001"), silos["silo-1"], static g => g.Status());
            await PlaceAsync(shop, shop.GetGrain<IInventoryGrain>("sku-4711"), silos["silo-2"], static g => g.Available());
            await PlaceAsync(shop, shop.GetGrain<IWarehouseGrain>("rotterdam"), silos["silo-3"], static g => g.Backlog());
            await PlaceAsync(shop, shop.GetGrain<IAccountGrain>("alice"), silos["silo-1"], static g => g.Balance());
            await PlaceAsync(shop, shop.GetGrain<IAccountGrain>("bob"), silos["silo-2"], static g => g.Balance());
            Task order = shop.GetGrain<IOrderGrain>("1001").Place("sku-4711", 3); // silo-1 → silo-2 → silo-3, never confirmed
            Task transfer = shop.GetGrain<IAccountGrain>("alice").Transfer("bob", 250m); // silo-1 → silo-2 → silo-1: a deadlock

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            await ChildProcesses.WaitUntilAsync("the admin endpoint did not show the order's chain across three silos and the deadlock", Bound, async () =>
            {
                children.ThrowIfAnyExited();
                foreach ((string name, Task call) in new[] { ("the order", order), ("the transfer", transfer) })
                {
                    if (call.IsCompleted)
                    {
                        throw new InvalidOperationException($"{name} ended instead of staying suspended: {call.Exception?.GetBaseException().Message ?? "completed"}");
                    }
                }
                try
                {
                    return Missing(await http.GetStringAsync(url));
                }
                catch (HttpRequestException e) // the admin app not listening yet
                {
                    return e.Message;
                }
            });
            string text = await http.GetStringAsync($"{url}?format=text");
            Console.WriteLine(text);
            if (check)
            {
                return text.Contains("NO ANSWER", StringComparison.Ordinal) ? ChildProcesses.Fail("a silo did not answer")
                    : !text.Contains("DEADLOCK (call cycle): account/alice (silo-1) → account/bob (silo-2) → account/alice (silo-1)", StringComparison.Ordinal)
                        ? ChildProcesses.Fail("the text does not name the deadlock between account/alice and account/bob")
                    : 0;
            }
            Console.WriteLine($"The admin page: {url}/html — press Enter to stop everything.");
            Console.ReadLine();
            return 0;
        }
        catch (Exception e)
        {
            return ChildProcesses.Fail($"{e.GetType().Name}: {e.Message}");
        }
        finally
        {
            try
            {
                using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await (frontEnd?.StopAsync(stopping.Token) ?? Task.CompletedTask);
            }
            catch (Exception e) // the children and the container are ended all the same
            {
                Console.Error.WriteLine($"the front end's cluster client did not stop cleanly: {e.Message}");
            }
            frontEnd?.Dispose();
            children.Dispose();
            if (redis is not null)
            {
                await redis.DisposeAsync();
            }
        }
    }

    /// <summary>Waits (bounded) until silo-1, silo-2 and silo-3 are active members of the cluster; returns their addresses by name.</summary>
    private static async Task<Dictionary<string, SiloAddress>> WaitForSilosAsync(IClusterClient client, ChildProcesses children)
    {
        var silos = new Dictionary<string, SiloAddress>();
        await ChildProcesses.WaitUntilAsync("3 silos did not become active", Bound, async () =>
        {
            children.ThrowIfAnyExited();
            foreach (MembershipEntry silo in await client.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true))
            {
                silos[silo.SiloName] = silo.SiloAddress;
            }
            return silos.Count >= 3 ? null : $"{silos.Count} active";
        });
        return silos;
    }

    /// <summary>
    /// Activates <paramref name="grain"/> on <paramref name="silo"/>: its first call (<paramref name="warmUp"/>) carries
    /// Orleans' placement hint. The silo that places it ignores the hint while the target is not yet among the silos it
    /// knows to host the grain's type (a silo's grain types reach the others a moment after it joins); then the grain is
    /// moved there, with the same hint (MigrateOnIdle), until it lives there (bounded).
    /// </summary>
    private static async Task PlaceAsync<TGrain>(IClusterClient client, TGrain grain, SiloAddress silo, Func<TGrain, Task> warmUp)
        where TGrain : IAddressable
    {
        IManagementGrain management = client.GetGrain<IManagementGrain>(0);
        await ChildProcesses.WaitUntilAsync($"{grain.GetGrainId()} was not placed on {silo}", Bound, async () =>
        {
            await On(silo, () => warmUp(grain));
            SiloAddress? where = await management.GetActivationAddress(grain);
            if (silo.Equals(where))
            {
                return null;
            }
            Console.Error.WriteLine($"{grain.GetGrainId()} is on {where}, not {silo}: moving it…");
            await On(silo, () => grain.AsReference<IGrainManagementExtension>().MigrateOnIdle().AsTask());
            return $"it is on {where}";
        });
    }

    /// <summary>Makes <paramref name="call"/> with Orleans' placement hint: a grain it activates is placed on <paramref name="silo"/>.</summary>
    private static async Task On(SiloAddress silo, Func<Task> call)
    {
        RequestContext.Set(IPlacementDirector.PlacementHintKey, silo);
        try
        {
            await call();
        }
        finally
        {
            RequestContext.Remove(IPlacementDirector.PlacementHintKey);
        }
    }

    /// <summary>
    /// What the admin endpoint's JSON still lacks (null when nothing): its schema, every silo's answer, the order's chain
    /// from order/1001 on silo-1 through inventory/sku-4711 on silo-2 to warehouse/rotterdam on silo-3 with the
    /// warehouse's stack, and the deadlock between account/alice and account/bob.
    /// </summary>
    private static string? Missing(string json)
    {
        using JsonDocument document = JsonDocument.Parse(json);
        JsonElement root = document.RootElement;
        if (root.GetProperty("schema").GetString() is not "stackscope-orleans/3" and var schema)
        {
            throw new InvalidDataException($"the admin endpoint serves schema {schema}, not stackscope-orleans/3");
        }
        int answered = root.GetProperty("silos").EnumerateArray().Count(static s => s.GetProperty("answered").GetBoolean());
        if (answered != 3)
        {
            return $"{answered} of 3 silos answered";
        }
        string[] expected = ["order/1001 (silo-1)", "inventory/sku-4711 (silo-2)", "warehouse/rotterdam (silo-3)"];
        var hops = new List<string>();
        JsonElement? chain = root.GetProperty("stuck").EnumerateArray()
            .Where(static c => c.GetProperty("request").GetProperty("grain").GetString() == "order/1001").Cast<JsonElement?>().FirstOrDefault();
        JsonElement? last = null;
        for (; chain is { } hop; chain = hop.GetProperty("next").EnumerateArray().Cast<JsonElement?>().FirstOrDefault())
        {
            last = hop.GetProperty("request");
            hops.Add($"{last.Value.GetProperty("grain").GetString()} ({last.Value.GetProperty("silo").GetString()})");
        }
        if (!hops.SequenceEqual(expected))
        {
            return $"the order's chain is [{string.Join(" → ", hops)}], not [{string.Join(" → ", expected)}]";
        }
        if (!last!.Value.TryGetProperty("stack", out JsonElement stack) || stack.GetProperty("frames").GetArrayLength() == 0)
        {
            return "the warehouse's request has no stack yet";
        }
        string[][] deadlocks = root.GetProperty("deadlocks").EnumerateArray()
            .Select(static d => d.EnumerateArray().Select(static m => m.GetString()!).ToArray()).ToArray();
        return deadlocks.Length == 1 && deadlocks[0].Contains("account/alice (silo-1)") && deadlocks[0].Contains("account/bob (silo-2)")
            ? null
            : $"{deadlocks.Length} deadlock(s) reported: {string.Join("; ", deadlocks.Select(static d => string.Join(" → ", d)))}";
    }
}

internal static class Roles
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name) => ChildProcesses.Arg(args, name);
        if (Arg("role") == "silo")
        {
            // A silo: its endpoints on 127.0.0.1, its membership in Redis.
            HostApplicationBuilder builder = Host.CreateApplicationBuilder();
            Deployment.Log(builder.Logging);
            builder.UseOrleans(silo => silo
                .UseRedisClustering(Arg("redis"))
                .Configure<ClusterOptions>(o => o.ClusterId = o.ServiceId = Arg("cluster"))
                .Configure<SiloOptions>(o => o.SiloName = Arg("name"))
                .ConfigureEndpoints(IPAddress.Loopback, int.Parse(Arg("silo-port")), int.Parse(Arg("gateway-port")))
                .Configure<SiloMessagingOptions>(o => o.ResponseTimeout = Deployment.ResponseTimeout)
                // TrackRequests: the warehouse's request awaits the carrier, not a grain; its stack needs TaskTracking.
                // StuckThreshold zero: every running request counts as stuck from its first millisecond (by default, past
                // Orleans' RequestProcessingWarningTime, 20 s), so a read right after the calls started lists them.
                .AddStackscope(o => { o.TrackRequests = true; o.StuckThreshold = TimeSpan.Zero; }));
            await builder.Build().RunAsync();
            return 0;
        }
        // The admin web app: only a cluster client, no silo; its endpoint reads every silo through the cluster.
        WebApplicationBuilder web = WebApplication.CreateBuilder();
        Deployment.Log(web.Logging);
        web.WebHost.UseUrls($"http://127.0.0.1:{Arg("port")}");
        // The reader's threshold is the one a read uses (the silos' only when a silo reads): zero here too, as on the silos.
        web.UseOrleansClient(client => Deployment.Connect(client, Arg("redis"), Arg("cluster")).AddStackscope(o => o.StuckThreshold = TimeSpan.Zero));
        WebApplication app = web.Build();
        app.MapStackscope("/admin/stackscope"); // loopback only by default
        await app.RunAsync();
        return 0;
    }
}

/// <summary>What every process of the deployment sets alike.</summary>
internal static class Deployment
{
    /// <summary>
    /// How long a grain call may wait for its answer. Orleans' default (30 s) ends the deadlock and the order's chain with a
    /// TimeoutException half a minute in; the sample keeps them for half an hour, so the admin page can be looked at.
    /// </summary>
    public static readonly TimeSpan ResponseTimeout = TimeSpan.FromMinutes(30);

    /// <summary>A cluster client of <paramref name="cluster"/> through Redis; it retries until a silo's gateway answers (bounded by its host's start).</summary>
    public static IClientBuilder Connect(IClientBuilder client, string redis, string cluster) => client
        .UseRedisClustering(redis)
        .Configure<ClusterOptions>(o => o.ClusterId = o.ServiceId = cluster)
        .Configure<ClientMessagingOptions>(o => o.ResponseTimeout = ResponseTimeout)
        .UseConnectionRetryFilter(static async (_, cancellationToken) =>
        {
            await Task.Delay(500, cancellationToken);
            return true;
        });

    /// <summary>Only errors, and to stderr: stdout is the sample's output.</summary>
    public static void Log(ILoggingBuilder logging) =>
        logging.ClearProviders().SetMinimumLevel(LogLevel.Error).AddConsole(static o => o.LogToStandardErrorThreshold = LogLevel.Trace);
}
