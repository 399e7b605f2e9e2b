using System.Net;
using DotNet.Testcontainers.Containers;
using Hangfire;
using Hangfire.States;
using Stackscope.Hangfire;
using Stackscope.Hangfire.Cluster;
using Stackscope.Samples;

// One command, a whole Hangfire deployment on this machine: PostgreSQL in a container (Testcontainers, the image
// scripts/ensure-docker.sh builds), two worker services and a dashboard web app, each its own process (this program,
// started again with --role). `--check` fetches the dashboard's Stacks page as text, prints it and exits 0 (non-zero with
// the reason); without it the deployment keeps running until Enter and the dashboard's URL is printed.
return args.Contains("--role") ? await Roles.RunAsync(args) : await Orchestrator.RunAsync(check: args.Contains("--check"));

internal static class Orchestrator
{
    public static async Task<int> RunAsync(bool check)
    {
        var children = new ChildProcesses();
        IContainer? postgres = null;
        try
        {
            Console.Error.WriteLine("starting PostgreSQL on 127.0.0.1 (Testcontainers)…");
            (postgres, string connection) = await Stackscope.Docker.ServiceContainers.StartAsync("postgres", "Timeout=5");
            JobStorage storage = Shop.Storage(connection);
            int dashboardPort = ChildProcesses.FreePort();
            string url = $"http://127.0.0.1:{dashboardPort}/hangfire";
            children.Start("warehouse", "--role", "worker", "--connection", connection, "--name", "warehouse");
            children.Start("billing", "--role", "worker", "--connection", connection, "--name", "billing");
            children.Start("dashboard", "--role", "dashboard", "--connection", connection, "--name", dashboardPort.ToString());

            var client = new BackgroundJobClient(storage);
            await WaitForServersAsync(storage, children, 2);
            client.Create(() => Shop.ReserveStock(1001), new EnqueuedState("warehouse"));
            await WaitForJobsAsync(storage, children, 1);
            client.Create(() => Shop.CountStock(), new EnqueuedState("billing"));
            client.Create(() => Shop.SendInvoice(1002), new EnqueuedState("billing"));
            await WaitForJobsAsync(storage, children, 3);

            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            string text = await http.GetStringAsync($"{url}/stackscope?format=text");
            if (check)
            {
                Console.WriteLine(text);
                return text.Contains("NO ANSWER", StringComparison.Ordinal) ? ChildProcesses.Fail("a server did not answer")
                    : !text.Contains("held by job 1 (Shop.ReserveStock)", StringComparison.Ordinal) ? ChildProcesses.Fail("Shop.CountStock is not shown blocked by Shop.ReserveStock's lock")
                    : 0;
            }
            Console.WriteLine(text);
            Console.WriteLine($"The dashboard: {url}/stackscope — press Enter to stop everything.");
            Console.ReadLine();
            return 0;
        }
        catch (Exception e)
        {
            return ChildProcesses.Fail($"{e.GetType().Name}: {e.Message}");
        }
        finally
        {
            children.Dispose();
            if (postgres is not null)
            {
                await postgres.DisposeAsync();
            }
        }
    }

    /// <summary>Waits (bounded) until <paramref name="count"/> servers are registered in the storage.</summary>
    private static Task WaitForServersAsync(JobStorage storage, ChildProcesses children, int count) =>
        ChildProcesses.WaitUntilAsync($"fewer than {count} servers started", TimeSpan.FromSeconds(60), () =>
        {
            children.ThrowIfAnyExited();
            int servers = storage.GetMonitoringApi().Servers().Count;
            return Task.FromResult(servers >= count ? null : $"{servers} registered");
        });

    /// <summary>Waits (bounded) until the servers, read through the storage, perform <paramref name="count"/> jobs.</summary>
    private static Task WaitForJobsAsync(JobStorage storage, ChildProcesses children, int count) =>
        ChildProcesses.WaitUntilAsync($"the servers did not perform {count} jobs", TimeSpan.FromSeconds(60), async () =>
        {
            children.ThrowIfAnyExited();
            int jobs = (await StackscopeHangfire.ReadAllServersAsync(storage, TimeSpan.FromSeconds(5))).Jobs.Count();
            return jobs >= count ? null : $"{jobs} performing";
        });
}

internal static class Roles
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name) => ChildProcesses.Arg(args, name);
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
