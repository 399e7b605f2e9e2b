using System.Diagnostics;
using Hangfire;
using Hangfire.Common;
using Hangfire.Server;
using Hangfire.States;
using Hangfire.InMemory;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Stackscope.Glue;
using Stackscope.Monitoring;
using Stackscope.Tests;
using Xunit.Abstractions;

namespace Stackscope.Hangfire.Tests;

/// <summary>What a collecting logger provider was told: every entry, and a wait (bounded) for one.</summary>
internal sealed class ListLoggerProvider : ILoggerProvider
{
    private readonly object _gate = new();
    private readonly List<Entry> _entries = [];
    private readonly List<(Func<Entry, bool> Match, TaskCompletionSource<Entry> Seen)> _waiters = [];

    public sealed record Entry(string Category, LogLevel Level, EventId Id, string Message, IReadOnlyList<KeyValuePair<string, object?>> State)
    {
        public override string ToString() => $"{Level}: {Id.Id} {Id.Name}: {Message}";
    }

    public IReadOnlyList<Entry> Entries
    {
        get
        {
            lock (_gate)
            {
                return _entries.ToList();
            }
        }
    }

    public Task<Entry> WaitFor(Func<Entry, bool> match, TimeSpan timeout)
    {
        lock (_gate)
        {
            if (_entries.FirstOrDefault(match) is { } seen)
            {
                return Task.FromResult(seen);
            }
            var waiter = new TaskCompletionSource<Entry>(TaskCreationOptions.RunContinuationsAsynchronously);
            _waiters.Add((match, waiter));
            return waiter.Task.WaitAsync(timeout);
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Add(Entry entry)
    {
        lock (_gate)
        {
            _entries.Add(entry);
            foreach (var waiter in _waiters.Where(w => w.Match(entry)).ToList())
            {
                waiter.Seen.TrySetResult(entry);
                _waiters.Remove(waiter);
            }
        }
    }

    private sealed class Logger(ListLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            provider.Add(new Entry(category, logLevel, eventId, formatter(state, exception),
                state as IReadOnlyList<KeyValuePair<string, object?>> ?? []));
    }
}

/// <summary>A tracing filter as instrumentation libraries write one: each job performs inside an activity of its own, started when it begins.</summary>
internal sealed class TracingFilter : IServerFilter
{
    public const string SourceName = "Stackscope.Hangfire.Tests";
    private static readonly ActivitySource s_source = new(SourceName);

    public Dictionary<string, Activity> Started { get; } = [];

    public void OnPerforming(PerformingContext context)
    {
        if (s_source.StartActivity("perform " + context.BackgroundJob.Job.Method.Name) is { } activity)
        {
            lock (Started)
            {
                Started[context.BackgroundJob.Id] = activity;
            }
            context.Items["test.activity"] = activity;
        }
    }

    public void OnPerformed(PerformedContext context)
    {
        if (context.Items.TryGetValue("test.activity", out object? activity))
        {
            ((Activity)activity).Stop();
        }
    }
}

/// <summary>
/// A host's <c>AddHangfire</c> makes Hangfire, process-wide, log to that host's logger factory and activate jobs in that
/// host's service scopes; both are disposed with the host, and every job performed after it (by any server) would fail to
/// start. Hangfire's own defaults again, after a test with a host.
/// </summary>
internal static class HostDefaults
{
    public static void Forget()
    {
        global::Hangfire.Logging.LogProvider.SetCurrentLogProvider(null);
        JobActivator.Current = new JobActivator();
    }
}

[Collection("hangfire")]
public sealed class MonitorTests(Servers servers, ITestOutputHelper output) : IDisposable
{
    private static readonly string Subjects = Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "Jobs.cs");

    private static int Line(string marker) => SourceLines.Find(Subjects, marker);

    public void Dispose()
    {
        Gate.ReleaseAll();
        HostDefaults.Forget();
        // The fixture's configuration again (a test may have changed the process-wide options).
        GlobalConfiguration.Configuration.UseStackscope(o => { o.TrackAsyncJobs = true; o.StuckThreshold = TimeSpan.Zero; });
    }

    private static async Task Suspended(string key)
    {
        Gate gate = Gate.For(key);
        Task? awaited = await gate.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
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

    /// <summary>
    /// Waits (bounded) until Stackscope's process runs in the only server of <paramref name="storage"/>: it answered a read.
    /// Hangfire runs a server's processes on threads of their own and never starts one once its server is stopping, so a
    /// server stopped in its first moments may stop before Stackscope's process ever ran.
    /// </summary>
    private async Task ProcessRuns(JobStorage storage)
    {
        HangfireStacks read = await StackscopeHangfire.ReadAllServersAsync(storage, TimeSpan.FromSeconds(30));
        output.WriteLine(read.ToString());
        Assert.Equal(ServerAnswer.Answered, Assert.Single(read.Servers).Answer);
    }

    private static void Ended(string id) =>
        Assert.True(SpinWait.SpinUntil(() => StackscopeHangfire.CaptureLogicalStacks(new JobDumpOptions { ReadThreadStacks = false }).Jobs.All(j => j.JobId != id), TimeSpan.FromSeconds(30)),
            $"job {id} did not end");

    [Fact]
    public async Task A_stuck_async_job_is_warned_once_with_its_await_line_on_its_own_activity_then_finished_once()
    {
        var logs = new ListLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(logs));
        services.AddHangfireStackscope(o => { o.TrackAsyncJobs = true; o.StuckThreshold = TimeSpan.Zero; o.MonitorStuckJobs = true; });
        services.AddHangfireStackscope(o => { o.TrackAsyncJobs = true; o.StuckThreshold = TimeSpan.Zero; o.MonitorStuckJobs = true; }); // idempotent
        services.AddStackscopeMonitor(o => o.Threshold = TimeSpan.Zero);
        await using ServiceProvider provider = services.BuildServiceProvider();
        StuckWorkMonitor monitor = provider.GetRequiredService<StuckWorkMonitor>();
        Assert.Single(provider.GetServices<IStuckWorkSource>(), s => s.GetType().FullName == "Stackscope.Hangfire.Stuck.StuckJobSource");
        Assert.Single(provider.GetServices<IBackgroundProcess>());

        // A tracing filter registered after Stackscope's (so Stackscope's filter runs first and cannot see its activity at
        // start): the job's activity is still found, in the execution context of its job method.
        var tracing = new TracingFilter();
        using var listener = new ActivityListener
        {
            ShouldListenTo = static s => s.Name == TracingFilter.SourceName,
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
        };
        ActivitySource.AddActivityListener(listener);
        GlobalJobFilters.Filters.Add(tracing);
        string id;
        try
        {
            id = servers.Client.Enqueue(() => Jobs.AsyncWait("monitored-1"));
            await Suspended("monitored-1");

            IReadOnlyList<StuckWork> stuck = monitor.Poll();
            monitor.Poll(); // still stuck: no second warning before FirstRepeatAfter

            StuckWork work = Assert.Single(stuck, w => w.What == $"job {id} Jobs.AsyncWait");
            Assert.Equal("hangfire.job", work.Kind);
            Assert.StartsWith($"{id} on default-scheduler:", work.Key);
            Assert.Equal(Line("async-await"), work.Stack!.Frames[0].Location!.Line);
            Activity activity;
            lock (tracing.Started)
            {
                activity = tracing.Started[id];
            }
            Assert.Same(activity, work.Activity);
            ActivityEvent stuckEvent = Assert.Single(activity.Events, e => e.Name == StuckWorkMonitor.EventName);
            Assert.Equal($"job {id} Jobs.AsyncWait", stuckEvent.Tags.Single(t => t.Key == "stackscope.what").Value);
        }
        finally
        {
            GlobalJobFilters.Filters.Remove(tracing);
        }

        ListLoggerProvider.Entry warning = Assert.Single(logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains($"job {id} ", StringComparison.Ordinal));
        output.WriteLine(warning.ToString());
        Assert.Equal(new EventId(1, "StuckWork"), warning.Id);
        Assert.StartsWith($"Stuck hangfire.job job {id} Jobs.AsyncWait: running for ", warning.Message);
        Assert.Contains("async Task Jobs.AsyncWait(string key)", warning.Message);
        Assert.Contains($"Jobs.cs:line {Line("async-await")}", warning.Message);
        Assert.DoesNotContain("monitored-1", warning.Message); // the job's argument values are not logged
        Assert.Contains(warning.State, p => p.Key == "StuckStackJson" && p.Value is string json && json.Contains("Jobs.AsyncWait", StringComparison.Ordinal));

        Gate.For("monitored-1").Open();
        Ended(id);
        monitor.Poll();
        monitor.Poll();

        ListLoggerProvider.Entry finished = Assert.Single(logs.Entries, e => e.Id.Id == 3 && e.Message.Contains($"job {id} ", StringComparison.Ordinal));
        output.WriteLine(finished.ToString());
        Assert.Equal(LogLevel.Information, finished.Level);
        Assert.StartsWith($"hangfire.job job {id} Jobs.AsyncWait finished; was stuck for ", finished.Message);
        Assert.Single(logs.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains($"job {id} ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_stuck_sync_job_is_reported_with_its_worker_threads_stack_when_asked_and_says_how_otherwise()
    {
        var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        // Without DI: the source given to a monitor built by hand.
        var monitor = new StuckWorkMonitor([StackscopeHangfire.StuckJobSource()], new StackscopeMonitorOptions { Threshold = TimeSpan.Zero },
            factory.CreateLogger<StuckWorkMonitor>());
        string id = servers.Client.Enqueue(() => Jobs.SyncWait("monitored-sync"));
        await Suspended("monitored-sync");

        StuckWork without = Assert.Single(monitor.Poll(), w => w.What == $"job {id} Jobs.SyncWait");
        Assert.Null(without.Stack);
        Assert.Contains("ReadThreadStacksWhenStuck", without.Note);
        ListLoggerProvider.Entry warning = Assert.Single(logs.Entries, e => e.Message.Contains($"job {id} ", StringComparison.Ordinal));
        output.WriteLine(warning.ToString());
        Assert.Contains("(no stack: a synchronous job's stack is its worker thread's", warning.Message);

        GlobalConfiguration.Configuration.UseStackscope(o => { o.TrackAsyncJobs = true; o.StuckThreshold = TimeSpan.Zero; o.ReadThreadStacksWhenStuck = true; });
        var reading = new StuckWorkMonitor([StackscopeHangfire.StuckJobSource()], new StackscopeMonitorOptions { Threshold = TimeSpan.Zero },
            factory.CreateLogger<StuckWorkMonitor>());
        StuckWork with = Assert.Single(reading.Poll(), w => w.What == $"job {id} Jobs.SyncWait");
        Assert.Equal([Line("sync-job"), Line("sync-wait")], with.Stack!.Frames.Take(2).Select(static f => f.Location!.Line));
        ListLoggerProvider.Entry second = logs.Entries.Last(e => e.Message.Contains($"job {id} ", StringComparison.Ordinal));
        output.WriteLine(second.ToString());
        Assert.Contains($"Jobs.cs:line {Line("sync-wait")}", second.Message);
        Gate.For("monitored-sync").Open();
        Ended(id);
    }

    [Fact]
    public async Task A_job_ignoring_its_cancellation_when_its_server_stops_is_logged_once_with_its_await_line()
    {
        HostDefaults.Forget(); // an earlier test's host may have been the last to configure Hangfire
        var logs = new ListLoggerProvider();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs));
        var storage = new InMemoryStorage(); // its own: the server alone in it
        using var _ = storage;
        var server = new BackgroundJobServer(
            new BackgroundJobServerOptions { ServerName = "stopping", WorkerCount = 2, StopTimeout = TimeSpan.Zero, ShutdownTimeout = TimeSpan.FromSeconds(3) },
            storage, [StackscopeHangfire.ServerProcess(factory.CreateLogger("Stackscope.Hangfire"))]);
        var client = new BackgroundJobClient(storage);
        string ignoring = client.Enqueue(() => Jobs.IgnoresShutdown("shutdown-ignores", CancellationToken.None));
        string honoring = client.Enqueue(() => Jobs.HonorsShutdown("shutdown-honors", CancellationToken.None));
        await Suspended("shutdown-ignores");
        await Suspended("shutdown-honors");
        await ProcessRuns(storage);
        var stopwatch = Stopwatch.StartNew();

        server.Dispose(); // stops, waits for the jobs at most ShutdownTimeout (3 s): one of them is still running

        output.WriteLine($"Dispose returned after {stopwatch.Elapsed.TotalSeconds:0.0} s");
        ListLoggerProvider.Entry entry = await logs.WaitFor(e => e.Message.Contains($"job {ignoring} ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        output.WriteLine(entry.ToString());
        Assert.Equal(LogLevel.Warning, entry.Level);
        Assert.Equal(new EventId(101, "JobIgnoredShutdown"), entry.Id);
        Assert.StartsWith($"job {ignoring} Jobs.IgnoresShutdown did not stop when the server shut down (cancellation requested ", entry.Message);
        Assert.Contains("async Task Jobs.IgnoresShutdown(string key, CancellationToken cancellationToken)", entry.Message);
        Assert.Contains($"Jobs.cs:line {Line("shutdown-await")}", entry.Message);
        Gate.For("shutdown-ignores").Open();
        Ended(ignoring);
        Assert.Single(logs.Entries, e => e.Message.Contains($"job {ignoring} ", StringComparison.Ordinal));
        Assert.DoesNotContain(logs.Entries, e => e.Message.Contains($"job {honoring} ", StringComparison.Ordinal)); // it stopped
        Assert.Single(logs.Entries);
    }

    [Fact]
    public async Task A_server_of_a_host_logs_a_job_ignoring_the_shutdown_through_the_hosts_logging()
    {
        var logs = new ListLoggerProvider();
        HostApplicationBuilder builder = Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders().AddProvider(logs);
        builder.Services.AddHangfire(c => c.UseStorage(new InMemoryStorage())); // the host owns its storage
        builder.Services.AddHangfireStackscope(o => { o.TrackAsyncJobs = true; o.StuckThreshold = TimeSpan.Zero; });
        builder.Services.AddHangfireServer(o => { o.ServerName = "host-stopping"; o.Queues = ["host-stopping"]; o.WorkerCount = 1; o.StopTimeout = TimeSpan.Zero; o.ShutdownTimeout = TimeSpan.FromSeconds(3); });
        using IHost host = builder.Build();
        await host.StartAsync().WaitAsync(TimeSpan.FromSeconds(30));
        string id = host.Services.GetRequiredService<IBackgroundJobClient>().Create(() => Jobs.IgnoresShutdown("host-shutdown", CancellationToken.None), new EnqueuedState("host-stopping"));
        await Suspended("host-shutdown");
        await ProcessRuns(host.Services.GetRequiredService<JobStorage>());

        await host.StopAsync().WaitAsync(TimeSpan.FromSeconds(30));

        ListLoggerProvider.Entry entry = await logs.WaitFor(e => e.Message.Contains($"job {id} ", StringComparison.Ordinal), TimeSpan.FromSeconds(30));
        output.WriteLine(entry.ToString());
        Assert.Equal("Stackscope.Hangfire", entry.Category);
        Assert.StartsWith($"job {id} Jobs.IgnoresShutdown did not stop when the server shut down (cancellation requested ", entry.Message);
        Assert.Contains($"Jobs.cs:line {Line("shutdown-await")}", entry.Message);
        Gate.For("host-shutdown").Open();
        Ended(id);
        Assert.Single(logs.Entries, e => e.Message.Contains($"job {id} ", StringComparison.Ordinal));
    }
}
