using BenchmarkDotNet.Attributes;
using Hangfire;
using Hangfire.InMemory;
using Stackscope.Hangfire;
using Stackscope.Monitoring;

public static class BlockedJobs
{
    private static readonly ManualResetEventSlim s_release = new();
    private static int s_running;

    public static int Running => Volatile.Read(ref s_running);

    public static void Release() => s_release.Set();

    public static void Block()
    {
        Interlocked.Increment(ref s_running);
        s_release.Wait(TimeSpan.FromMinutes(10));
        Interlocked.Decrement(ref s_running);
    }
}

/// <summary>
/// What one poll of the stuck-job monitor costs this process: <see cref="StackscopeHangfire.StuckJobSource"/>'s Read while
/// a real server's 4 workers each perform a job (none past the threshold: the usual case), at the monitor's default
/// threshold (30 s). The monitor polls every 5 s by default, so its share of the process is this time / 5 s.
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 3, iterationCount: 10)]
[MemoryDiagnoser]
public class StuckJobPollBenchmarks
{
    private BackgroundJobServer? _server;
    private readonly IStuckWorkSource _source = StackscopeHangfire.StuckJobSource();
    private readonly TimeSpan _threshold = new StackscopeMonitorOptions().Threshold;

    [GlobalSetup]
    public void Setup()
    {
        var storage = new InMemoryStorage();
        GlobalConfiguration.Configuration.UseStackscope();
        _server = new BackgroundJobServer(new BackgroundJobServerOptions { ServerName = "poll", WorkerCount = 4, Queues = ["default"] }, storage);
        var client = new BackgroundJobClient(storage);
        for (int i = 0; i < 4; i++)
        {
            client.Enqueue(() => BlockedJobs.Block());
        }
        if (!SpinWait.SpinUntil(() => BlockedJobs.Running == 4 && StackscopeHangfire.CaptureLogicalStacks(new JobDumpOptions { ReadThreadStacks = false }).Jobs.Count == 4, TimeSpan.FromMinutes(1)))
        {
            throw new InvalidOperationException("the 4 jobs did not start");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        BlockedJobs.Release();
        _server?.Dispose();
    }

    [Benchmark(Description = "monitor poll of Hangfire jobs, 4 running, none stuck")]
    public int Poll() => _source.Read(_threshold).Count();
}
