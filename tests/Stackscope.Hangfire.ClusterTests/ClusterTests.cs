using System.Diagnostics;
using System.Net;
using Hangfire;
using Hangfire.States;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Stackscope.Hangfire.Worker;
using Stackscope.Tests;
using Xunit.Abstractions;

namespace Stackscope.Hangfire.ClusterTests;

/// <summary>
/// Two Hangfire worker services in their own OS processes and this process as the reader (a console tool, a dashboard
/// web app: it runs no Hangfire server), on a real storage server in a container.
/// </summary>
public abstract class ClusterTests(string kind, ITestOutputHelper output) : IAsyncLifetime
{
    private static readonly string Jobs = Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "..", "Stackscope.Hangfire.Worker", "WorkerJobs.cs");
    private StorageContainer _container = null!;
    private WorkerProcess _a = null!;
    private WorkerProcess _b = null!;
    private JobStorage _storage = null!;

    private static int Line(string marker) => SourceLines.Find(Jobs, marker);

    public async Task InitializeAsync()
    {
        _container = await StorageContainer.StartAsync(kind);
        _storage = Storages.Create(kind, _container.Connection); // creates the schema before the workers start
        _a = await WorkerProcess.StartAsync(kind, _container.Connection, "worker-a", "queue-a");
        _b = await WorkerProcess.StartAsync(kind, _container.Connection, "worker-b", "queue-b");
    }

    public async Task DisposeAsync()
    {
        _a?.Dispose();
        _b?.Dispose();
        if (_container is not null)
        {
            await _container.DisposeAsync();
        }
    }

    [Fact]
    public async Task Every_servers_jobs_are_read_from_a_process_running_no_server_and_a_killed_worker_is_named()
    {
        var client = new BackgroundJobClient(_storage);
        string asyncJob = client.Create(() => WorkerJobs.AsyncWait("a1"), new EnqueuedState("queue-a"));
        string markupJob = client.Create(() => WorkerJobs.AsyncWait("<b>a2</b>"), new EnqueuedState("queue-a"));
        string syncJob = client.Create(() => WorkerJobs.SyncWait("b1"), new EnqueuedState("queue-b"));
        await _a.Entered("a1");
        await _a.Entered("<b>a2</b>");
        await _b.Entered("b1");

        HangfireStacks stacks = await StackscopeHangfire.ReadAllServersAsync(_storage, TimeSpan.FromSeconds(20));
        output.WriteLine(stacks.ToString());

        ServerStacks a = Assert.Single(stacks.Servers, s => s.ServerId == _a.ServerId);
        ServerStacks b = Assert.Single(stacks.Servers, s => s.ServerId == _b.ServerId);
        Assert.Equal(ServerAnswer.Answered, a.Answer);
        Assert.Equal(ServerAnswer.Answered, b.Answer);
        ProcessingJob async = Assert.Single(a.Jobs!.Jobs, j => j.JobId == asyncJob);
        Assert.Equal("WorkerJobs.AsyncWait", async.Method);
        Assert.Equal("\"a1\"", async.Arguments);
        Assert.True(async.IsAsync);
        Assert.True(async.IsStuck);
        Assert.Equal(_a.ServerId, async.ServerId);
        LogicalFrame frame = async.Stack!.Frames[0];
        Assert.Equal("async Task WorkerJobs.AsyncWait(string key)", frame.DisplayName);
        Assert.Equal(Line("worker-async-await"), frame.Location!.Line);
        Assert.Equal("TaskCompletionSource<string>.Task", async.Stack.Leaf!.Description);
        ProcessingJob sync = Assert.Single(b.Jobs!.Jobs, j => j.JobId == syncJob);
        Assert.False(sync.IsAsync);
        Assert.Contains(sync.Stack!.Frames, f => f.Location?.Line == Line("worker-sync-job"));
        Assert.Contains(sync.Stack.Frames, f => f.Location?.Line == Line("worker-sync-wait"));
        Assert.Contains(a.Jobs.Jobs, j => j.JobId == markupJob);

        // The dashboard of a web app that runs no server: every server, the markup in an argument escaped.
        (string html, string details) = await DashboardPages(asyncJob);
        Assert.Contains($"<h2>server {WebUtility.HtmlEncode(_a.ServerId)}:", html);
        Assert.Contains($"<h2>server {WebUtility.HtmlEncode(_b.ServerId)}:", html);
        Assert.Contains("WorkerJobs.AsyncWait(&quot;&lt;b&gt;a2&lt;/b&gt;&quot;)", html);
        Assert.DoesNotContain("<b>a2</b>", html);
        Assert.Contains($"WorkerJobs.cs:line {Line("worker-async-await")}", html);
        // The job's own details page shows its stack too.
        Assert.Contains("What it is doing (Stackscope)", details);
        Assert.Contains($"async Task WorkerJobs.AsyncWait(string key) <span class=\"ss-loc\">in WorkerJobs.cs:line {Line("worker-async-await")}</span>", details);

        // Deleted while it runs (its cancellation ignored) and requeued: performed twice at once, both executions listed.
        Assert.True(client.Delete(asyncJob));
        Assert.True(client.ChangeState(asyncJob, new EnqueuedState("queue-a"))); // requeued to its own queue
        await _a.EnteredTimes("a1", 2);
        HangfireStacks twice = await StackscopeHangfire.ReadAllServersAsync(_storage, TimeSpan.FromSeconds(20));
        output.WriteLine(twice.ToString());
        ProcessingJob[] executions = twice.Jobs.Where(j => j.JobId == asyncJob).ToArray();
        Assert.Equal(2, executions.Length);
        Assert.NotEqual(executions[0].ThreadId, executions[1].ThreadId);
        Assert.All(executions, e => Assert.Equal(Line("worker-async-await"), e.Stack!.Frames[0].Location!.Line));

        // A worker killed mid-work: listed as not answering within the bound, never waited for past it.
        _b.Kill();
        var clock = Stopwatch.StartNew();
        HangfireStacks after = await StackscopeHangfire.ReadAllServersAsync(_storage, TimeSpan.FromSeconds(2));
        clock.Stop();
        output.WriteLine(after.ToString());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(8), $"the read took {clock.Elapsed}");
        Assert.Equal(ServerAnswer.NoAnswer, Assert.Single(after.Servers, s => s.ServerId == _b.ServerId).Answer);
        Assert.Contains($"server {_b.ServerId}: NO ANSWER", after.ToString());
        Assert.Equal(ServerAnswer.Answered, Assert.Single(after.Servers, s => s.ServerId == _a.ServerId).Answer);

        // A foreign record where a server's answer belongs: reported as unreadable, the other server still listed. The
        // killed server's record: a live one could answer the read's own request first and replace it (it did, once in a
        // full run, when the record was the live server's).
        using (var connection = _storage.GetConnection())
        {
            connection.SetRangeInHash("stackscope:answer:" + _b.ServerId, new Dictionary<string, string> { ["request"] = "not-yours", ["requestAt"] = DateTime.UtcNow.AddHours(1).ToString("O"), ["json"] = "{\"schema\":\"something-else/9\",<oops" });
        }
        HangfireStacks foreign = await StackscopeHangfire.ReadAllServersAsync(_storage, TimeSpan.FromMilliseconds(50));
        output.WriteLine(foreign.ToString());
        ServerStacks unreadable = Assert.Single(foreign.Servers, s => s.ServerId == _b.ServerId);
        Assert.Equal(ServerAnswer.Unreadable, unreadable.Answer);
        Assert.StartsWith("the answer could not be read:", unreadable.Note);
        Assert.Contains($"server {_b.ServerId}: UNREADABLE ANSWER", foreign.ToString());
        Assert.Single(foreign.Servers, s => s.ServerId == _a.ServerId);

        _a.Send("release a1");
        _a.Send("release <b>a2</b>");

        // The storage itself gone: one clear error line, no exception, within the bound and the storage's own timeouts.
        await _container.DisposeAsync();
        _container = null!;
        clock.Restart();
        HangfireStacks unreachable = await StackscopeHangfire.ReadAllServersAsync(_storage, TimeSpan.FromSeconds(2));
        output.WriteLine(unreachable.ToString());
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(6), $"the read took {clock.Elapsed}"); // the bound, a second's grace, slack
        Assert.Empty(unreachable.Servers);
        string error = Assert.Single(unreachable.Errors);
        Assert.True(error.StartsWith("the job storage could not be read:", StringComparison.Ordinal) || error.StartsWith("the job storage did not answer within", StringComparison.Ordinal), error);
        Assert.True(error.Length < 300, error);
    }

    [Fact]
    public async Task A_job_waiting_for_a_distributed_lock_is_blocked_by_the_job_on_the_other_server_holding_it()
    {
        const string resource = "shop:<stock>";
        var client = new BackgroundJobClient(_storage);
        string holderJob = client.Create(() => WorkerJobs.HoldLock(resource, "holder"), new EnqueuedState("queue-a"));
        await _a.Entered("holder");
        string waiterJob = client.Create(() => WorkerJobs.WaitForLock(resource, "waiter"), new EnqueuedState("queue-b"));
        await _b.Entered("waiter");

        // The waiter said it entered just before it asks for the lock: read again (bounded) until it is seen blocked in it.
        HangfireStacks stacks = null!;
        ProcessingJob waiter = null!;
        for (int read = 0; read < 10; read++)
        {
            stacks = await StackscopeHangfire.ReadAllServersAsync(_storage, TimeSpan.FromSeconds(20));
            waiter = Assert.Single(stacks.Jobs, j => j.JobId == waiterJob);
            if (waiter.Stack?.Frames.Any(static f => f.MethodName == "AcquireDistributedLock") == true)
            {
                break;
            }
        }
        output.WriteLine(stacks.ToString());

        ProcessingJob holder = Assert.Single(stacks.Jobs, j => j.JobId == holderJob);
        Assert.Equal(_a.ServerId, holder.ServerId);
        string held = Assert.Single(holder.HeldLocks);
        Assert.EndsWith(resource, held, StringComparison.Ordinal); // as the storage names it: prefixed by PostgreSQL and Redis
        LogicalFrame frame = holder.Stack!.Frames[0];
        Assert.Equal(Line("worker-lock-holder-await"), frame.Location!.Line);
        HeldResource lockResource = Assert.Single(frame.Resources, r => r.Name == "held");
        Assert.Equal($"distributed lock on \"{held}\"", lockResource.Description);
        Assert.Equal(Line("worker-lock-held"), lockResource.Location!.Line);

        Assert.Equal(_b.ServerId, waiter.ServerId);
        Assert.Contains(waiter.Stack!.Frames, f => f.Location?.Line == Line("worker-lock-wait"));
        Assert.Equal(held, waiter.AwaitedLock);
        Assert.Equal($"waits for distributed lock \"{held}\", held by job {holderJob} (WorkerJobs.HoldLock) on server {_a.ServerId}", waiter.BlockedBy);
        Assert.Contains($"BLOCKED: waits for distributed lock \"{held}\"", stacks.ToString());

        // Its resource's markup is escaped on the page like any other text.
        (string html, _) = await DashboardPages(waiterJob);
        Assert.Contains(WebUtility.HtmlEncode($"Blocked: waits for distributed lock \"{held}\""), html);
        Assert.DoesNotContain("<stock>", html);

        _a.Send("release holder"); // the holder lets go; the waiter takes the lock and ends
    }

    private async Task<(string Page, string Details)> DashboardPages(string jobId)
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Services.AddHangfire(c => c.UseStorage(Storages.Create(kind, _container.Connection)));
        builder.Services.AddHangfireStackscope(o => o.ReadBound = TimeSpan.FromSeconds(20));
        await using WebApplication app = builder.Build();
        app.UseHangfireDashboard("/hangfire");
        await app.StartAsync();
        string root = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        HttpResponseMessage page = await http.GetAsync($"{root}/hangfire/stackscope");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        HttpResponseMessage details = await http.GetAsync($"{root}/hangfire/jobs/details/{jobId}");
        Assert.Equal(HttpStatusCode.OK, details.StatusCode);
        var result = (await page.Content.ReadAsStringAsync(), await details.Content.ReadAsStringAsync());
        await app.StopAsync();
        // AddHangfire made the web app's logger factory Hangfire's process-wide log provider; it is disposed with the app,
        // and a BackgroundJobClient made after that (the next test in this process) would throw on it.
        global::Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
        return result;
    }
}

public sealed class PostgreSqlClusterTests(ITestOutputHelper output) : ClusterTests("postgres", output);

public sealed class RedisClusterTests(ITestOutputHelper output) : ClusterTests("redis", output);
