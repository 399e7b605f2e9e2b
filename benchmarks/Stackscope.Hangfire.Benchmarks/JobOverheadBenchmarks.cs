using System.Collections.Concurrent;
using BenchmarkDotNet.Attributes;
using Hangfire;
using Hangfire.Common;
using Hangfire.InMemory;
using Hangfire.States;
using Stackscope.Hangfire;

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
/// Per-job cost of the glue: 10,000 trivial jobs enqueued and performed by a server whose filters include
/// Stackscope's (as <c>UseStackscope()</c> registers it), against a server with the same filters but that one.
/// Same process, same storage kind, 4 workers each; one operation is one job (enqueue, fetch, perform, state change).
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 1, iterationCount: 6, invocationCount: 1)]
[MemoryDiagnoser]
public class JobOverheadBenchmarks
{
    private const int Jobs = 10_000;

    private (BackgroundJobServer Server, BackgroundJobClient Client) _without;
    private (BackgroundJobServer Server, BackgroundJobClient Client) _with;
    private int _run;

    [GlobalSetup]
    public void Setup()
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
        _without = Start("without", new JobFilterProviderCollection(plainFilters, new JobFilterAttributeFilterProvider()));
        _with = Start("with", new JobFilterProviderCollection(stackscopeFilters, new JobFilterAttributeFilterProvider()));
        if (plainFilters.Count() != stackscopeFilters.Count() - 1)
        {
            throw new InvalidOperationException("the plain server should have every global filter but Stackscope's");
        }
    }

    private static (BackgroundJobServer, BackgroundJobClient) Start(string name, IJobFilterProvider filters)
    {
        var storage = new InMemoryStorage();
        var options = new BackgroundJobServerOptions { ServerName = name, WorkerCount = 4, Queues = ["default"] };
        // The one public way to give a server its own filters (obsolete "until 2.0"): the two servers must differ only in Stackscope's filter.
#pragma warning disable CS0618
        var server = new BackgroundJobServer(options, storage, [], filters, null, null, null, null);
#pragma warning restore CS0618
        return (server, new BackgroundJobClient(storage, filters));
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _without.Server.Dispose();
        _with.Server.Dispose();
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Jobs, Description = "trivial job, without the glue")]
    public Task Without() => Run(_without.Client);

    [Benchmark(OperationsPerInvoke = Jobs, Description = "trivial job, with UseStackscope()")]
    public Task With() => Run(_with.Client);

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
