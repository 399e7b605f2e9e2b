using System.Collections.Concurrent;
using DotNet.Testcontainers.Containers;
using BenchmarkDotNet.Attributes;
using Hangfire;
using Hangfire.Common;
using Hangfire.InMemory;
using Hangfire.PostgreSql;
using Hangfire.PostgreSql.Factories;
using Hangfire.States;
using Microsoft.Extensions.Logging.Abstractions;
using Stackscope.Hangfire;
using Stackscope.Monitoring;

public static class TrivialJobs
{
    private static readonly ConcurrentDictionary<string, (int Expected, TaskCompletionSource Done, int[] Count)> s_runs = new();

    public static Task Expect(string run, int count)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        s_runs[run] = (count, done, new int[1]);
        return done.Task;
    }

    public static void Tick(string run)
    {
        var (expected, done, count) = s_runs[run];
        if (Interlocked.Increment(ref count[0]) == expected)
        {
            done.TrySetResult();
        }
    }
}

/// <summary>
/// Per-job cost of the glue: trivial jobs enqueued and performed by a server whose filters include Stackscope's (as
/// <c>UseStackscope()</c> registers it), against a server with the same filters but that one. Same process, same storage
/// kind, 4 workers each; one operation is one job (enqueue, fetch, perform, state change).
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 6, invocationCount: 1)]
[MemoryDiagnoser]
public abstract class JobOverheadBase
{
    private (BackgroundJobServer Server, BackgroundJobClient Client) _without;
    private (BackgroundJobServer Server, BackgroundJobClient Client) _with;
    private int _run;

    protected abstract int Jobs { get; }

    protected abstract JobStorage Storage(string name);

    protected void Start()
    {
        GlobalConfiguration.Configuration.UseStackscope();
        // Both servers' filters are built the same way, from the global filters, so they differ only in Stackscope's filter.
        // (An earlier version gave the "with" server Hangfire's global provider collection and the other a collection of its
        // own: that difference alone cost 5.4 KB per job, measured with Stackscope's filter emptied.)
        var plainFilters = new JobFilterCollection();
        var stackscopeFilters = new JobFilterCollection();
        foreach (JobFilter filter in GlobalJobFilters.Filters)
        {
            stackscopeFilters.Add(filter.Instance, filter.Order);
            if (filter.Instance.GetType().Namespace?.StartsWith("Stackscope", StringComparison.Ordinal) != true)
            {
                plainFilters.Add(filter.Instance, filter.Order);
            }
        }
        if (plainFilters.Count() != stackscopeFilters.Count() - 1)
        {
            throw new InvalidOperationException("the plain server should have every global filter but Stackscope's");
        }
        _without = Start("without", new JobFilterProviderCollection(plainFilters, new JobFilterAttributeFilterProvider()));
        _with = Start("with", new JobFilterProviderCollection(stackscopeFilters, new JobFilterAttributeFilterProvider()));
    }

    private (BackgroundJobServer, BackgroundJobClient) Start(string name, IJobFilterProvider filters)
    {
        JobStorage storage = Storage(name);
        var options = new BackgroundJobServerOptions { ServerName = name, WorkerCount = 4, Queues = ["default"] };
        // The one public way to give a server its own filters (obsolete "until 2.0"): the two servers must differ only in Stackscope's filter.
#pragma warning disable CS0618
        var server = new BackgroundJobServer(options, storage, [], filters, null, null, null, null);
#pragma warning restore CS0618
        return (server, new BackgroundJobClient(storage, filters));
    }

    protected void Stop()
    {
        _without.Server.Dispose();
        _with.Server.Dispose();
    }

    protected Task RunWithout() => Run(_without.Client);

    protected Task RunWith() => Run(_with.Client);

    private async Task Run(BackgroundJobClient client)
    {
        string run = $"run-{Interlocked.Increment(ref _run)}";
        Task done = TrivialJobs.Expect(run, Jobs);
        for (int i = 0; i < Jobs; i++)
        {
            client.Create(Job.FromExpression(() => TrivialJobs.Tick(run)), new EnqueuedState());
        }
        await done.WaitAsync(TimeSpan.FromMinutes(5));
    }
}

/// <summary>
/// 10,000 trivial jobs per invocation on Hangfire.InMemory: each server its own storage. The third case runs the "with"
/// server while Stackscope's stuck-work monitor polls this process's jobs (<c>MonitorStuckJobs</c>) at its default
/// settings (a poll every 5 s, threshold 30 s): BenchmarkDotNet runs each case in a process of its own, so only that
/// case has a monitor.
/// </summary>
public class JobOverheadBenchmarks : JobOverheadBase
{
    private const int JobCount = 10_000;
    private StuckWorkMonitor? _monitor;

    protected override int Jobs => JobCount;

    protected override JobStorage Storage(string name) => new InMemoryStorage();

    [GlobalSetup(Targets = [nameof(Without), nameof(With)])]
    public void Setup() => Start();

    [GlobalSetup(Target = nameof(WithMonitor))]
    public async Task SetupWithMonitor()
    {
        Start();
        // What services.AddHangfireStackscope(o => o.MonitorStuckJobs = true) registers, at the monitor's default settings.
        _monitor = new StuckWorkMonitor([StackscopeHangfire.StuckJobSource()], new StackscopeMonitorOptions(), NullLogger<StuckWorkMonitor>.Instance);
        await _monitor.StartAsync(CancellationToken.None);
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        if (_monitor is not null)
        {
            await _monitor.StopAsync(CancellationToken.None);
            _monitor.Dispose();
        }
        Stop();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = JobCount, Description = "trivial job, without the glue")]
    public Task Without() => RunWithout();

    [Benchmark(OperationsPerInvoke = JobCount, Description = "trivial job, with UseStackscope()")]
    public Task With() => RunWith();

    [Benchmark(OperationsPerInvoke = JobCount, Description = "trivial job, with UseStackscope() and the stuck-job monitor")]
    public Task WithMonitor() => RunWith();
}

/// <summary>
/// 1,000 trivial jobs per invocation on real PostgreSQL (Hangfire.PostgreSql), started in a container with Testcontainers
/// (run <c>eval "$(bash scripts/ensure-docker.sh)"</c> first): each server its own schema.
/// </summary>
public class PostgreSqlJobOverheadBenchmarks : JobOverheadBase
{
    private const int JobCount = 1_000;
    private IContainer? _postgres;
    private string _connection = "";

    protected override int Jobs => JobCount;

    protected override JobStorage Storage(string name) => Postgres(_connection, "hangfire_" + name);

    /// <summary>A Hangfire.PostgreSql storage in <paramref name="schema"/> (created if missing), as this project's benchmarks configure it.</summary>
    internal static PostgreSqlStorage Postgres(string connection, string schema)
    {
        var options = new PostgreSqlStorageOptions { SchemaName = schema, PrepareSchemaIfNecessary = true, QueuePollInterval = TimeSpan.FromMilliseconds(50) };
        return new PostgreSqlStorage(new NpgsqlConnectionFactory(connection, options), options);
    }

    [GlobalSetup]
    public async Task Setup()
    {
        (_postgres, _connection) = await Stackscope.Docker.ServiceContainers.StartAsync("postgres", "Maximum Pool Size=50");
        Start();
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        Stop();
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = JobCount, Description = "trivial job on PostgreSQL, without the glue")]
    public Task Without() => RunWithout();

    [Benchmark(OperationsPerInvoke = JobCount, Description = "trivial job on PostgreSQL, with UseStackscope()")]
    public Task With() => RunWith();
}
