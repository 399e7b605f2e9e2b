using System.Net;
using Hangfire;
using Hangfire.InMemory;
using Hangfire.States;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Stackscope.Glue;
using Stackscope.Tests;
using Xunit.Abstractions;

namespace Stackscope.Hangfire.Tests;

/// <summary>
/// Real BackgroundJobServers on Hangfire.InMemory storage: one with the default task scheduling (async jobs run on
/// TaskScheduler.Default), one with the worker-thread task pump (<c>TaskScheduler = null</c>), on their own queues.
/// </summary>
public sealed class Servers : IDisposable
{
    public Servers()
    {
        Storage = new InMemoryStorage();
        GlobalConfiguration.Configuration.UseStorage(Storage).UseStackscope(o => { o.TrackAsyncJobs = true; o.StuckThreshold = TimeSpan.Zero; });
        Client = new BackgroundJobClient(Storage);
        Default = new BackgroundJobServer(new BackgroundJobServerOptions { ServerName = "default-scheduler", WorkerCount = 4, Queues = ["default"] }, Storage);
        Pump = new BackgroundJobServer(new BackgroundJobServerOptions { ServerName = "task-pump", WorkerCount = 2, Queues = ["pump"], TaskScheduler = null }, Storage);
    }

    public InMemoryStorage Storage { get; }
    public BackgroundJobClient Client { get; }
    public BackgroundJobServer Default { get; }
    public BackgroundJobServer Pump { get; }

    public void Dispose()
    {
        Gate.ReleaseAll();
        Default.Dispose();
        Pump.Dispose();
    }
}

[CollectionDefinition("hangfire", DisableParallelization = true)]
public sealed class HangfireCollection : ICollectionFixture<Servers>;

[Collection("hangfire")]
public sealed class JobStackTests(Servers servers, ITestOutputHelper output) : IDisposable
{
    private static readonly string Subjects = Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "Jobs.cs");

    private static int Line(string marker) => SourceLines.Find(Subjects, marker);

    public void Dispose()
    {
        Gate.ReleaseAll();
        HostDefaults.Forget(); // after the dashboard test's host
    }

    /// <summary>Waits until the job behind <paramref name="key"/> is suspended on what it announced (an async method registered on it), or, for a sync job, blocked in Monitor.Wait (its lock is free).</summary>
    private static async Task Suspended(string key)
    {
        Gate gate = Gate.For(key);
        Task? awaited = await gate.Entered.Task;
        if (awaited is null)
        {
            lock (gate.Lock)
            {
                // Monitor.Wait released the lock: the job thread is waiting.
            }
            return;
        }
        Assert.True(SpinWait.SpinUntil(() => TaskGraph.ContinuationsOf(awaited).Any(static c => c.Kind == TaskContinuationKind.AsyncMethod), TimeSpan.FromSeconds(30)),
            $"job {key} did not suspend on its await");
    }

    [Fact]
    public async Task A_job_requeued_while_it_runs_shows_both_executions_until_each_ends()
    {
        string id = servers.Client.Enqueue(() => Jobs.IgnoresCancellation("twice"));
        await Suspended("twice#1");
        // Deleted while it runs (the job ignores cancellation), then requeued: a second worker runs it again.
        Assert.True(servers.Client.Delete(id));
        Assert.True(servers.Client.Requeue(id));
        await Suspended("twice#2");

        JobsDump both = Dump();
        ProcessingJob[] executions = both.Jobs.Where(j => j.JobId == id).ToArray();
        Assert.Equal(2, executions.Length);
        Assert.NotEqual(executions[0].ThreadId, executions[1].ThreadId);
        Assert.All(executions, e => Assert.Equal(Line("twice-await"), e.Stack!.Frames[0].Location!.Line));

        Gate.For("twice#1").Open();
        Assert.True(SpinWait.SpinUntil(() => StackscopeHangfire.CaptureLogicalStacks(new JobDumpOptions { ReadThreadStacks = false }).Jobs.Count(j => j.JobId == id) == 1, TimeSpan.FromSeconds(30)),
            "after the first execution ended, the second must still be listed");
        Gate.For("twice#2").Open();
        Assert.True(SpinWait.SpinUntil(() => StackscopeHangfire.CaptureLogicalStacks(new JobDumpOptions { ReadThreadStacks = false }).Jobs.All(j => j.JobId != id), TimeSpan.FromSeconds(30)));
    }

    private JobsDump Dump(JobDumpOptions? options = null)
    {
        JobsDump dump = StackscopeHangfire.CaptureLogicalStacks(options);
        output.WriteLine(dump.ToString());
        return dump;
    }

    [Fact]
    public async Task Async_jobs_show_their_await_lines_under_both_task_scheduling_options()
    {
        string onDefault = servers.Client.Enqueue(() => Jobs.AsyncWait("async-default"));
        string onPump = servers.Client.Create(() => Jobs.AsyncWait("async-pump"), new EnqueuedState("pump"));
        await Suspended("async-default");
        await Suspended("async-pump");

        JobsDump dump = Dump(new JobDumpOptions { ReadThreadStacks = false, StuckThreshold = TimeSpan.Zero });

        foreach (var (id, key) in new[] { (onDefault, "async-default"), (onPump, "async-pump") })
        {
            ProcessingJob job = Assert.Single(dump.Jobs, j => j.JobId == id);
            Assert.True(job.IsAsync);
            Assert.Equal("Jobs.AsyncWait", job.Method);
            Assert.Equal($"\"{key}\"", job.Arguments);
            LogicalFrame frame = Assert.Single(job.Stack!.Frames);
            Assert.Equal("async Task Jobs.AsyncWait(string key)", frame.DisplayName);
            Assert.Equal(Line("async-await"), frame.Location!.Line);
            Assert.Equal(LeafKind.TaskCompletionSource, job.Stack.Leaf!.Kind);
        }
        Assert.StartsWith("task-pump:", dump.Jobs.Single(j => j.JobId == onPump).ServerId);
        Assert.StartsWith("default-scheduler:", dump.Jobs.Single(j => j.JobId == onDefault).ServerId);
        Assert.Contains($"Jobs.cs:line {Line("async-await")}", dump.ToString());
    }

    [Fact]
    public async Task Sync_job_shows_its_worker_threads_stack_from_the_job_method_in()
    {
        string id = servers.Client.Enqueue(() => Jobs.SyncWait("sync-1"));
        await Suspended("sync-1");

        JobsDump dump = Dump(new JobDumpOptions { StuckThreshold = TimeSpan.Zero });

        ProcessingJob job = Assert.Single(dump.Jobs, j => j.JobId == id);
        Assert.False(job.IsAsync);
        Assert.NotNull(job.Stack);
        List<LogicalFrame> frames = job.Stack!.Frames.ToList();
        Assert.StartsWith("void Jobs.SyncWait(string key)", frames[0].DisplayName);
        Assert.Equal(Line("sync-job"), frames[0].Location!.Line);
        Assert.Equal("void Gate.Block()", frames[1].DisplayName);
        Assert.Equal(Line("sync-wait"), frames[1].Location!.Line);
        Assert.DoesNotContain(frames, static f => f.DisplayName.Contains("BackgroundJobPerformer", StringComparison.Ordinal)); // Hangfire's frames above the job are cut
    }

    [Fact]
    public async Task Job_waiting_for_a_semaphore_says_which_job_holds_it()
    {
        string holder = servers.Client.Enqueue(() => Jobs.HoldStock("holder"));
        await Suspended("holder");
        string waiter = servers.Client.Enqueue(() => Jobs.WaitForStock("waiter"));
        await Suspended("waiter");

        JobsDump dump = Dump(new JobDumpOptions { ReadThreadStacks = false, StuckThreshold = TimeSpan.Zero });

        ProcessingJob blocked = Assert.Single(dump.Jobs, j => j.JobId == waiter);
        Assert.Equal(
            $"job {holder} (Jobs.HoldStock) holds it: LockScope stock in async Task Jobs.HoldStock(string key) (Jobs.cs:line {Line("hold-enter")})",
            blocked.BlockedBy);
        Assert.Equal(new int?[] { Line("wait-stock"), Line("lock-enter") }, blocked.Stack!.Frames.Select(static f => f.Location?.Line));
        Assert.Contains($"BLOCKED: job {holder} (Jobs.HoldStock) holds it", dump.ToString());
        Assert.Null(dump.Jobs.Single(j => j.JobId == holder).BlockedBy);
    }

    [Fact]
    public async Task Job_waiting_for_a_distributed_lock_says_which_job_holds_it()
    {
        string holder = servers.Client.Enqueue(() => Jobs.HoldDistributedLock("jobs:stock", "lock-holder", null));
        await Suspended("lock-holder");
        string waiter = servers.Client.Enqueue(() => Jobs.WaitForDistributedLock("jobs:stock", null));

        // The waiter gives no sign when it blocks in the storage: dump again until it is seen there, for at most 30 s (a
        // count of reads was no bound of time: on a loaded machine 20 reads passed before a worker had even fetched the waiter).
        JobsDump dump;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        do
        {
            dump = StackscopeHangfire.CaptureLogicalStacks(new JobDumpOptions { StuckThreshold = TimeSpan.Zero });
        }
        while (dump.Jobs.FirstOrDefault(j => j.JobId == waiter)?.BlockedBy is null && clock.Elapsed < TimeSpan.FromSeconds(30));
        output.WriteLine(dump.ToString());

        ProcessingJob held = Assert.Single(dump.Jobs, j => j.JobId == holder);
        Assert.Equal(["jobs:stock"], held.HeldLocks);
        HeldResource resource = Assert.Single(held.Stack!.Frames[0].Resources, r => r.Name == "held");
        Assert.Equal("distributed lock on \"jobs:stock\"", resource.Description);
        Assert.Equal(Line("hold-distributed"), resource.Location!.Line);
        ProcessingJob blocked = Assert.Single(dump.Jobs, j => j.JobId == waiter);
        Assert.Equal($"waits for distributed lock \"jobs:stock\", held by job {holder} (Jobs.HoldDistributedLock) on server {held.ServerId}", blocked.BlockedBy);
        Assert.Equal("jobs:stock", blocked.AwaitedLock);
        Assert.Equal(Line("wait-distributed"), blocked.Stack!.Frames[0].Location!.Line);
        Assert.Null(held.BlockedBy);

        Gate.For("lock-holder").Open(); // the holder lets go; the waiter takes the lock and ends
        Assert.True(SpinWait.SpinUntil(() => StackscopeHangfire.CaptureLogicalStacks(new JobDumpOptions { ReadThreadStacks = false }).Jobs.All(j => j.JobId != waiter), TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task Stuck_jobs_are_those_past_the_threshold_and_DumpLogicalStacks_lists_them()
    {
        string id = servers.Client.Enqueue(() => Jobs.AsyncWait("stuck-1"));
        await Suspended("stuck-1");

        JobsDump patient = Dump(new JobDumpOptions { ReadThreadStacks = false, StuckThreshold = TimeSpan.FromHours(1), OnlyStuck = true });
        Assert.Empty(patient.Jobs);
        Assert.Empty(patient.Stuck);

        string text = servers.Default.DumpLogicalStacks(new JobDumpOptions { ReadThreadStacks = false, StuckThreshold = TimeSpan.Zero, OnlyStuck = true });
        output.WriteLine(text);
        Assert.Contains($"job {id}: Jobs.AsyncWait(\"stuck-1\") STUCK", text);
        Assert.Contains($"Jobs.cs:line {Line("async-await")}", text);
    }

    [Fact]
    public async Task Dashboard_page_is_served_over_HTTP_by_a_real_server_on_loopback()
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddHangfire(c => c.UseStorage(new InMemoryStorage())); // the host owns (and disposes) its storage
        builder.Services.AddHangfireStackscope(o => { o.TrackAsyncJobs = true; o.StuckThreshold = TimeSpan.Zero; });
        // A server started the hosted-service way: AddHangfireStackscope gave it Stackscope's server process.
        builder.Services.AddHangfireServer(o => { o.ServerName = "web-host"; o.Queues = ["web"]; o.WorkerCount = 1; });
        await using WebApplication app = builder.Build();
        app.UseHangfireDashboard("/hangfire");
        await app.StartAsync();
        string id = app.Services.GetRequiredService<IBackgroundJobClient>().Create(() => Jobs.AsyncWait("page-1"), new EnqueuedState("web"));
        await Suspended("page-1");
        string root = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };

        HttpResponseMessage page = await http.GetAsync($"{root}/hangfire/stackscope");
        string text = await http.GetStringAsync($"{root}/hangfire/stackscope?format=text");

        output.WriteLine(text);
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
        string html = await page.Content.ReadAsStringAsync();
        Assert.Contains("<h2>server web-host:", html);
        Assert.Contains($"<span class=\"ss-title\">job {id}: Jobs.AsyncWait(&quot;page-1&quot;) STUCK</span>", html);
        Assert.Contains($"async Task Jobs.AsyncWait(string key) <span class=\"ss-loc\">in Jobs.cs:line {Line("async-await")}</span>", html);
        Assert.Contains("server web-host:", text);
        Assert.Contains($"job {id}: Jobs.AsyncWait(\"page-1\") STUCK", text);
        string menu = await http.GetStringAsync($"{root}/hangfire");
        Assert.Contains("/hangfire/stackscope", menu);
        Gate.For("page-1").Open();
        await app.StopAsync();
    }
}
