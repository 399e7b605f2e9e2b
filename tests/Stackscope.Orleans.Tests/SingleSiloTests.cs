using System.Diagnostics;
using System.Reflection;
using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;
using Stackscope.Glue;
using Stackscope.Orleans.Inspection;
using Xunit.Abstractions;

namespace Stackscope.Orleans.Tests;

/// <summary>
/// A real 1-silo cluster (Orleans.TestingHost, in process), Stackscope in the silo with request tracking on, and a client
/// that reads it as a host that is only a cluster client does: through the stateless-worker gatherers, all on the one silo.
/// </summary>
public sealed class OneSiloCluster : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = TwoSiloCluster.Build(1, client: static o => o.StuckThreshold = TimeSpan.Zero);
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    /// <summary>The cluster client's reader: it runs no silo.</summary>
    public IGrainStacks ClientStacks => Cluster.Client.ServiceProvider.GetRequiredService<IGrainStacks>();
}

[CollectionDefinition("orleans-one-silo", DisableParallelization = true)]
public sealed class OneSiloCollection : ICollectionFixture<OneSiloCluster>;

[Collection("orleans-one-silo")]
public sealed class SingleSiloTests(OneSiloCluster fixture, ITestOutputHelper output) : IDisposable
{
    private const int Busy = 20;
    private const int ReadsAtOnce = 6;
    private const int PendingCount = 2_000;

    public void Dispose()
    {
        Gate.ReleaseAll();
    }

    /// <summary>
    /// Concurrent reads from a client-only host of a 1-silo cluster each have every busy grain's stack. Each read asks three
    /// gatherers at once, all on the one silo, and each used to scan it, copying the process's active-task registry (where
    /// requests awaiting anything but a grain call are found) at the same moment as the others: a scan that found the
    /// registry's lock held gave up on it and reported those requests without stacks, and without a word.
    /// </summary>
    [Fact]
    public async Task Concurrent_reads_of_a_single_silo_from_a_client_only_host_each_have_every_stack()
    {
        string[] keys = Enumerable.Range(0, Busy).Select(static i => $"one-silo-{i}").ToArray();
        // Pending async operations, as a busy silo process has, so that copying the registry takes a while (not many more:
        // with tracking on, completing them at the end costs about 1 ms each here).
        var idle = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task[] pending = Enumerable.Range(0, PendingCount).Select(_ => Idle(idle.Task)).ToArray();
        var setup = Stopwatch.StartNew();
        List<Task<string>> calls = keys.Select(k => fixture.Cluster.Client.GetGrain<IStuckGrain>(k).Wait()).ToList();
        try
        {
            foreach (string key in keys)
            {
                await ClusterTests.Suspended(key);
            }
            output.WriteLine($"tracked tasks in the process: {TaskGraph.TrackedTasks().Count}; busy grains suspended in {setup.ElapsedMilliseconds} ms");

            IGrainStacks reader = fixture.ClientStacks;
            var incomplete = new List<string>();
            int reads = 0;
            for (int round = 0; round < 10; round++)
            {
                var clock = Stopwatch.StartNew();
                ClusterStacks[] answers = await Task.WhenAll(Enumerable.Range(0, ReadsAtOnce).Select(_ => reader.GetClusterStacksAsync()));
                output.WriteLine($"round {round}: {ReadsAtOnce} reads in {clock.ElapsedMilliseconds} ms");
                foreach (ClusterStacks stacks in answers)
                {
                    reads++;
                    SiloStacks silo = Assert.Single(stacks.Silos);
                    Assert.True(silo.Answered);
                    var missing = keys.Where(k => !HasStack(stacks, k)).ToList();
                    if (missing.Count > 0 || stacks.Errors.Count > 0 || silo.Errors.Count > 0)
                    {
                        string note = stacks.Stuck.Select(static c => c.Request.Note).FirstOrDefault(static n => n is not null) ?? "-";
                        incomplete.Add($"read {reads}: {missing.Count} of {Busy} stacks missing; errors: [{string.Join("; ", stacks.Errors.Concat(silo.Errors))}]; a request's note: {note}");
                    }
                }
            }
            incomplete.ForEach(output.WriteLine);
            Assert.True(incomplete.Count == 0, $"{incomplete.Count} of {reads} concurrent reads were incomplete:\n{string.Join("\n", incomplete)}");
        }
        finally
        {
            idle.SetResult();
            await Task.WhenAll(pending);
            Gate.ReleaseAll();
            await Task.WhenAll(calls);
        }
    }

    /// <summary>
    /// A scan that cannot copy the runtime's active-task registry (its lock held throughout, here by the test) says so in its
    /// report, and the request found only there is listed without a stack, with the reason: nothing is dropped silently.
    /// </summary>
    [Fact]
    public async Task A_scan_that_cannot_read_the_task_registry_says_so()
    {
        const string key = "one-silo-registry-held";
        Task<string> call = fixture.Cluster.Client.GetGrain<IStuckGrain>(key).Wait();
        await ClusterTests.Suspended(key);
        IServiceProvider silo = fixture.Cluster.Silos[0].SiloHost.Services;
        object registry = typeof(Task).GetField("s_currentActiveTasks", BindingFlags.NonPublic | BindingFlags.Static)!.GetValue(null)!;
        using var held = new ManualResetEventSlim();
        using var done = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            lock (registry)
            {
                held.Set();
                done.Wait(TimeSpan.FromSeconds(10)); // bounded: the process's new tasks wait for this lock meanwhile
            }
        });
        holder.Start();
        SiloStacks report;
        try
        {
            held.Wait();
            report = SiloScan.Read(silo, new StackscopeOrleansOptions { TrackRequests = true });
        }
        finally
        {
            done.Set();
            holder.Join();
        }
        output.WriteLine(string.Join("\n", report.Errors));

        Assert.Contains("the runtime's active-task registry (TaskTracking) stayed locked for 50 ms: what only it shows is missing; " +
            "requests awaiting anything but a grain call are shown without their stacks", report.Errors);
        GrainRequest request = Assert.Single(Assert.Single(report.Activations, static a => a.Grain == "stuck/" + key).Running);
        Assert.Null(request.Stack);
        Assert.StartsWith("stack not found: ", request.Note);
        // With the lock free again, the same silo's report has the stack.
        GrainRequest again = Assert.Single(Assert.Single(fixture.Cluster.Silos[0].SiloHost.Services.GetRequiredService<IGrainStacks>().GetSiloStacks().Activations,
            static a => a.Grain == "stuck/" + key).Running);
        Assert.Equal(ClusterTests.Line("stuck-await"), Assert.Single(again.Stack!.Frames).Location!.Line);

        Gate.For(key).Release.SetResult("ok");
        Assert.Equal("ok from " + key, await call);
    }

    private static async Task Idle(Task gate) => await gate;

    /// <summary>Whether the read has <paramref name="key"/>'s request with its stack: StuckGrain.Wait at its await line.</summary>
    private static bool HasStack(ClusterStacks stacks, string key) =>
        stacks.Stuck.FirstOrDefault(c => c.Request.Grain == "stuck/" + key)?.Request is { Method: "IStuckGrain.Wait", Stack.Frames: [var frame] }
        && frame.DisplayName == "async Task<string> StuckGrain.Wait()"
        && frame.Location?.Line == ClusterTests.Line("stuck-await");
}
