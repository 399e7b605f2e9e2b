using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using DotNet.Testcontainers.Containers;
using Hangfire;
using Hangfire.States;
using Stackscope.Hangfire;
using Stackscope.Hangfire.Cluster;

// One command, a whole Hangfire deployment on this machine: PostgreSQL in a container (Testcontainers, the image
// scripts/ensure-docker.sh builds), two worker services and a dashboard web app, each its own process (this program,
// started again with --role). `--check` fetches the dashboard's Stacks page as text, prints it and exits 0 (non-zero with
// the reason); without it the deployment keeps running until Enter and the dashboard's URL is printed.
return args.Contains("--role") ? await Roles.RunAsync(args) : await Orchestrator.RunAsync(check: args.Contains("--check"));

internal static class Orchestrator
{
    public static async Task<int> RunAsync(bool check)
    {
        var children = new List<Process>();
        IContainer? postgres = null;
        try
        {
            Console.Error.WriteLine("starting PostgreSQL on 127.0.0.1 (Testcontainers)…");
            (postgres, string connection) = await Stackscope.Docker.ServiceContainers.StartAsync("postgres", "Timeout=5");
            JobStorage storage = Shop.Storage(connection);
            int dashboardPort = FreePort();
            string url = $"http://127.0.0.1:{dashboardPort}/hangfire";
            children.Add(Start(connection, "worker", "warehouse"));
            children.Add(Start(connection, "worker", "billing"));
            children.Add(Start(connection, "dashboard", dashboardPort.ToString()));

            var client = new BackgroundJobClient(storage);
            await WaitForServersAsync(storage, 2);
            client.Create(() => Shop.ReserveStock(1001), new EnqueuedState("warehouse"));
            await WaitForJobsAsync(storage, 1);
            client.Create(() => Shop.CountStock(), new EnqueuedState("billing"));
            client.Create(() => Shop.SendInvoice(1002), new EnqueuedState("billing"));
            await WaitForJobsAsync(storage, 3);

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            string text = await http.GetStringAsync($"{url}/stackscope?format=text");
            if (check)
            {
                Console.WriteLine(text);
                return text.Contains("NO ANSWER", StringComparison.Ordinal) ? Fail("a server did not answer")
                    : !text.Contains("held by job 1 (Shop.ReserveStock)", StringComparison.Ordinal) ? Fail("Shop.CountStock is not shown blocked by Shop.ReserveStock's lock")
                    : 0;
            }
            Console.WriteLine(text);
            Console.WriteLine($"The dashboard: {url}/stackscope — press Enter to stop everything.");
            Console.ReadLine();
            return 0;
        }
        catch (Exception e)
        {
            return Fail($"{e.GetType().Name}: {e.Message}");
        }
        finally
        {
            foreach (Process child in children)
            {
                if (!child.HasExited)
                {
                    child.Kill(entireProcessTree: true); // by its id
                    child.WaitForExit(10_000);
                }
                child.Dispose();
            }
            if (postgres is not null)
            {
                await postgres.DisposeAsync();
            }
        }
    }

    private static int Fail(string reason)
    {
        Console.Error.WriteLine("check failed: " + reason);
        return 1;
    }

    private static Process Start(string connection, string role, string name)
    {
        var start = new ProcessStartInfo("dotnet") { UseShellExecute = false };
        foreach (string arg in new[] { typeof(Shop).Assembly.Location, "--role", role, "--connection", connection, "--name", name })
        {
            start.ArgumentList.Add(arg);
        }
        return Process.Start(start)!;
    }

    /// <summary>Waits (bounded) until <paramref name="count"/> servers are registered in the storage.</summary>
    private static async Task WaitForServersAsync(JobStorage storage, int count)
    {
        for (var clock = Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromSeconds(60); await Task.Delay(200))
        {
            if (storage.GetMonitoringApi().Servers().Count >= count)
            {
                return;
            }
        }
        throw new TimeoutException($"fewer than {count} servers started within 60 s");
    }

    /// <summary>Waits (bounded) until the servers, read through the storage, perform <paramref name="count"/> jobs.</summary>
    private static async Task WaitForJobsAsync(JobStorage storage, int count)
    {
        for (var clock = Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromSeconds(60); await Task.Delay(200))
        {
            if ((await StackscopeHangfire.ReadAllServersAsync(storage, TimeSpan.FromSeconds(5))).Jobs.Count() >= count)
            {
                return;
            }
        }
        throw new TimeoutException($"the servers did not perform {count} jobs within 60 s");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

internal static class Roles
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name) => args.SkipWhile(a => a != "--" + name).Skip(1).First();
        JobStorage storage = Shop.Storage(Arg("connection"));
        if (Arg("role") == "worker")
        {
            // A worker service: a server on its own queue, Stackscope's process answering readers through the storage.
            GlobalConfiguration.Configuration.UseStorage(storage).UseStackscope(o => { o.TrackAsyncJobs = true; o.StuckThreshold = TimeSpan.Zero; });
            using var server = new BackgroundJobServer(new BackgroundJobServerOptions { ServerName = Arg("name"), Queues = [Arg("name")], WorkerCount = 2 },
                storage, [StackscopeHangfire.ServerProcess()]);
            await Task.Delay(Timeout.Infinite);
            return 0;
        }
        // The dashboard web app: runs no server; its Stacks page reads every server through the storage.
        WebApplicationBuilder builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{Arg("name")}");
        builder.Services.AddHangfire(c => c.UseStorage(storage));
        builder.Services.AddHangfireStackscope();
        WebApplication app = builder.Build();
        app.UseHangfireDashboard("/hangfire", new DashboardOptions { Authorization = [new LoopbackOnly()] });
        await app.RunAsync();
        return 0;
    }

    /// <summary>The sample's dashboard answers loopback requests only (Hangfire's default authorization allows local requests too).</summary>
    private sealed class LoopbackOnly : global::Hangfire.Dashboard.IDashboardAuthorizationFilter
    {
        public bool Authorize(global::Hangfire.Dashboard.DashboardContext context) =>
            IPAddress.TryParse(context.Request.RemoteIpAddress, out IPAddress? address) && IPAddress.IsLoopback(address);
    }
}
