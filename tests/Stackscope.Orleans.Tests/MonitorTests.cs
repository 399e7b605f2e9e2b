using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Runtime;
using Orleans.TestingHost;
using Stackscope.Monitoring;
using Stackscope.Orleans.Monitoring;
using Xunit.Abstractions;

namespace Stackscope.Orleans.Tests;

/// <summary>One log entry as the silo's logging wrote it.</summary>
public sealed record LogEntry(string Category, LogLevel Level, EventId Event, string Message);

/// <summary>A logger provider registered on the silo: keeps every entry of the stuck-work monitor.</summary>
public sealed class MonitorLogs : ILoggerProvider
{
    private readonly ConcurrentQueue<LogEntry> _entries = new();

    public IReadOnlyList<LogEntry> Entries => _entries.ToArray();

    public void Clear() => _entries.Clear();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _entries);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<LogEntry> entries) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => category == typeof(StuckWorkMonitor).FullName;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                entries.Enqueue(new LogEntry(category, logLevel, eventId, formatter(state, exception)));
            }
        }
    }
}

/// <summary>
/// A real 1-silo cluster with the stuck-request monitor (threshold 0, polled by the tests: its own loop every hour) and
/// timeouts explained on the silo and on the client; the silo's monitor logs go to <see cref="Logs"/>.
/// </summary>
public sealed class MonitoredCluster : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; private set; } = null!;

    public MonitorLogs Logs { get; } = new();

    public async Task InitializeAsync()
    {
        var builder = new InProcessTestClusterBuilder(1);
        MonitorLogs logs = Logs;
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddStackscope(o => { o.TrackRequests = true; o.MonitorStuckRequests = true; o.ExplainTimeouts = true; });
            silo.Services.AddStackscopeMonitor(o => { o.Threshold = TimeSpan.Zero; o.PollInterval = TimeSpan.FromHours(1); });
            silo.Services.AddSingleton<ILoggerProvider>(logs);
        });
        builder.ConfigureClient(c => c.AddStackscope(o => o.ExplainTimeouts = true));
        Cluster = builder.Build();
        await Cluster.DeployAsync();
    }

    public async Task DisposeAsync() => await Cluster.DisposeAsync();

    public IServiceProvider Silo => Cluster.Silos[0].SiloHost.Services;
}

[CollectionDefinition("orleans-monitored", DisableParallelization = true)]
public sealed class MonitoredCollection : ICollectionFixture<MonitoredCluster>;

[Collection("orleans-monitored")]
public sealed class MonitorTests(MonitoredCluster fixture, ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);

    public void Dispose()
    {
        Gate.ReleaseAll();
    }

    /// <summary>
    /// Polls until no request of earlier tests is running (they released their gates, but a request can still be ending),
    /// bounded, then forgets what was logged: what they left is said now, not in this test's log.
    /// </summary>
    private void StartQuiet(StuckWorkMonitor monitor)
    {
        Assert.True(SpinWait.SpinUntil(() => monitor.Poll().Count == 0, Bound), "requests of earlier tests still ran");
        fixture.Logs.Clear();
    }

    /// <summary>
    /// A request stuck in a grain is logged once, as a warning with the grain, its method and its stack down to the await
    /// line, however often the monitor polls; once it is released, one "finished" line, and nothing more.
    /// </summary>
    [Fact]
    public async Task A_stuck_grain_request_is_logged_once_with_its_stack_and_once_when_it_finishes()
    {
        const string key = "monitored-stuck";
        StuckWorkMonitor monitor = fixture.Silo.GetRequiredService<StuckWorkMonitor>();
        StartQuiet(monitor);
        Task<string> call = fixture.Cluster.Client.GetGrain<IStuckGrain>(key).Wait();
        await ClusterTests.Suspended(key);

        StuckWork work = Assert.Single(monitor.Poll());
        monitor.Poll();
        IReadOnlyList<StuckWork> third = monitor.Poll();
        Assert.Equal(work.Key, Assert.Single(third).Key); // stable while it runs
        Assert.Equal("orleans.request", work.Kind);
        Assert.Equal($"grain stuck/{key} IStuckGrain.Wait", work.What);
        LogicalFrame frame = Assert.Single(work.Stack!.Frames);
        Assert.Equal("async Task<string> StuckGrain.Wait()", frame.DisplayName);
        Assert.Equal(ClusterTests.Line("stuck-await"), frame.Location!.Line);
        output.WriteLine("note: " + work.Note);
        TimeSpan responseTimeout = fixture.Silo.GetRequiredService<IOptions<SiloMessagingOptions>>().Value.ResponseTimeout;
        output.WriteLine($"Orleans' default ResponseTimeout here: {responseTimeout}");
        Assert.Contains("RequestProcessingWarningTime", work.Note);
        Assert.Contains("MaxRequestProcessingTime", work.Note);

        LogEntry warning = Assert.Single(fixture.Logs.Entries);
        output.WriteLine(warning.Message);
        Assert.Equal(LogLevel.Warning, warning.Level);
        Assert.Equal(1, warning.Event.Id);
        Assert.StartsWith($"Stuck orleans.request grain stuck/{key} IStuckGrain.Wait: running for ", warning.Message);
        Assert.Contains("async Task<string> StuckGrain.Wait()", warning.Message);
        Assert.Contains($"Grains.cs:line {ClusterTests.Line("stuck-await")}", warning.Message);

        Gate.For(key).Release.SetResult("released");
        Assert.Equal("released from " + key, await call.WaitAsync(Bound));
        Assert.True(SpinWait.SpinUntil(() => monitor.Poll().Count == 0, Bound), "the request still ran after its answer");
        monitor.Poll();
        Assert.Equal(2, fixture.Logs.Entries.Count);
        LogEntry finished = fixture.Logs.Entries[1];
        output.WriteLine(finished.Message);
        Assert.Equal(LogLevel.Information, finished.Level);
        Assert.Equal(3, finished.Event.Id);
        Assert.StartsWith($"orleans.request grain stuck/{key} IStuckGrain.Wait finished; was stuck for ", finished.Message);
    }

    /// <summary>
    /// A poll that cannot take a stuck request's activation lock (held throughout, here by the test) keeps that request as
    /// it was, its time advanced: no "finished" line for a request that still runs, and no second warning.
    /// </summary>
    [Fact]
    public async Task A_poll_that_cannot_read_an_activation_keeps_its_stuck_request()
    {
        const string key = "monitored-locked";
        StuckWorkMonitor monitor = fixture.Silo.GetRequiredService<StuckWorkMonitor>();
        StartQuiet(monitor);
        Task<string> call = fixture.Cluster.Client.GetGrain<IStuckGrain>(key).Wait();
        await ClusterTests.Suspended(key);
        StuckWork before = Assert.Single(monitor.Poll());

        Type directoryType = Type.GetType("Orleans.Runtime.ActivationDirectory, Orleans.Runtime", throwOnError: true)!;
        object directory = fixture.Silo.GetRequiredService(directoryType);
        object context = directoryType.GetMethod("FindTarget")!.Invoke(directory, [GrainId.Create("stuck", key)])!;
        using var held = new ManualResetEventSlim();
        using var done = new ManualResetEventSlim();
        var holder = new Thread(() =>
        {
            lock (context)
            {
                held.Set();
                done.Wait(Bound);
            }
        });
        holder.Start();
        IReadOnlyList<StuckWork> during;
        try
        {
            held.Wait(Bound);
            // The silo's read cannot see the request now: it says so, as the source's read does.
            SiloStacks blind = fixture.Silo.GetRequiredService<IGrainStacks>().GetSiloStacks();
            Assert.Contains($"stuck/{key}: its lock was held for 20 ms of the read; requests not shown", blind.Errors);
            Assert.DoesNotContain(blind.Activations, static a => a.Grain == "stuck/" + key);
            during = monitor.Poll();
        }
        finally
        {
            done.Set();
            holder.Join();
        }
        StuckWork kept = Assert.Single(during);
        Assert.Equal(before.Key, kept.Key);
        Assert.True(kept.Elapsed >= before.Elapsed);
        Assert.Equal(ClusterTests.Line("stuck-await"), Assert.Single(kept.Stack!.Frames).Location!.Line);
        Assert.Equal(before.Key, Assert.Single(monitor.Poll()).Key);
        LogEntry only = Assert.Single(fixture.Logs.Entries);
        Assert.Equal(1, only.Event.Id);

        Gate.For(key).Release.SetResult("released");
        await call.WaitAsync(Bound);
    }

    /// <summary>
    /// A client's call that times out (Orleans' response timeout, 1 s for this method) throws a TimeoutException that says
    /// what the callee was doing at that moment: its grain, method and logical stack down to the await line; the stack is
    /// also the inner exception's stack trace, and Orleans' own exception is inside it.
    /// </summary>
    [Fact]
    public async Task A_client_call_that_times_out_carries_the_callees_stack()
    {
        const string key = "hanging-from-client";
        TimeoutException timeout = await Explained(key, fixture.Cluster.Client.GetGrain<IHangingGrain>(key).Hang());
        LogicalStackException stack = Assert.IsType<LogicalStackException>(timeout.InnerException);
        Assert.Contains($"at Stackscope.Orleans.Tests.HangingGrain.Hang() in ", stack.StackTrace);
        Assert.EndsWith($"Grains.cs:line {ClusterTests.Line("hang-await")}", stack.StackTrace);
        Assert.StartsWith("Response did not arrive on time", Assert.IsType<TimeoutException>(stack.InnerException).Message);
        Gate.For(key).Release.SetResult("late");
    }

    /// <summary>
    /// A grain's call that times out is explained on the grain's silo, and the explained exception reaches that grain's
    /// caller (here the client) through Orleans' exception serialization with the callee's stack in its message, explained
    /// once (the client's own filter does not take the grain's exception for its call's timeout). (With a
    /// LogicalStackException inside, as on a client, Orleans failed to serialize it: CodecNotFoundException instead.)
    /// </summary>
    [Fact]
    public async Task A_grain_call_that_times_out_in_a_silo_reaches_the_caller_with_the_callees_stack()
    {
        const string key = "hanging-from-grain";
        TimeoutException timeout = await Explained(key, fixture.Cluster.Client.GetGrain<ICallerGrain>("caller").CallHanging(key));
        // Explained once, where it timed out: the client's filter leaves the grain's exception as it is.
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(timeout.Message, "Stackscope:"));
        // Orleans' own exception inside: a LogicalStackException would not cross the wire (no codec for it).
        Assert.StartsWith("Response did not arrive on time", Assert.IsType<TimeoutException>(timeout.InnerException).Message);
        Gate.For(key).Release.SetResult("late");
    }

    /// <summary>
    /// A call that times out while it waits in the callee's queue says so, with its position, and shows the request that
    /// holds the activation: its method, caller and stack down to the await line. The two calls, from one caller to one
    /// method, are told apart by their correlation ids.
    /// </summary>
    [Fact]
    public async Task A_call_that_times_out_in_the_callees_queue_shows_the_request_holding_it()
    {
        const string key = "hanging-queued";
        IHangingGrain grain = fixture.Cluster.Client.GetGrain<IHangingGrain>(key);
        Task<string> first = grain.Hang();
        await ClusterTests.Suspended(key);
        Task<string> second = grain.Hang();

        await Assert.ThrowsAsync<TimeoutException>(() => first.WaitAsync(Bound));
        TimeoutException timeout = await Assert.ThrowsAsync<TimeoutException>(() => second.WaitAsync(Bound));
        output.WriteLine(timeout.ToString());
        Assert.Contains($"Stackscope: when the call timed out, grain hanging/{key} (silo ", timeout.Message);
        Assert.Contains("held this call (IHangingGrain.Hang) in its queue at position 1; it was running 1 request(s)", timeout.Message);
        Assert.Contains("IHangingGrain.Hang from sys.client/", timeout.Message);
        Assert.Contains($"async Task<string> HangingGrain.Hang() in Grains.cs:line {ClusterTests.Line("hang-await")}", timeout.Message);
        Gate.For(key).Release.SetResult("late");
    }

    /// <summary>
    /// Waits until the hanging grain <paramref name="key"/> is suspended, then for <paramref name="call"/> to time out
    /// (bounded); asserts that its message is Orleans' followed by the callee, its method and its stack with the await line.
    /// </summary>
    private async Task<TimeoutException> Explained(string key, Task<string> call)
    {
        await ClusterTests.Suspended(key);
        TimeoutException timeout = await Assert.ThrowsAsync<TimeoutException>(() => call.WaitAsync(Bound));
        output.WriteLine(timeout.ToString());
        Assert.StartsWith("Response did not arrive on time", timeout.Message);
        Assert.Contains($"Stackscope: when the call timed out, grain hanging/{key} (silo ", timeout.Message);
        Assert.Contains("was running this call (IHangingGrain.Hang) for ", timeout.Message);
        Assert.Contains($"async Task<string> HangingGrain.Hang() in Grains.cs:line {ClusterTests.Line("hang-await")}", timeout.Message);
        return timeout;
    }

    /// <summary>
    /// <c>AddStackscope()</c> with its defaults registers no stuck-work source, no monitor, no hosted service of the monitor and
    /// no call filter; each option registers its part. Read from a real Orleans host builder's services (not started).
    /// </summary>
    [Fact]
    public void Nothing_is_registered_for_monitoring_or_timeouts_unless_asked()
    {
        IServiceCollection Services(Action<StackscopeOrleansOptions>? configure)
        {
            HostApplicationBuilder host = Host.CreateApplicationBuilder();
            host.UseOrleans(silo => silo.UseLocalhostClustering().AddStackscope(configure));
            return host.Services;
        }
        static bool Has<T>(IServiceCollection services) => services.Any(static d => d.ServiceType == typeof(T));
        static bool HasMonitor(IServiceCollection services) => Has<StuckWorkMonitor>(services) || Has<IStuckWorkSource>(services) || Has<StackscopeMonitorOptions>(services);
        static bool HasFilter(IServiceCollection services) => Has<TimeoutExplainer>(services) ||
            services.Any(static d => d.ServiceType == typeof(IOutgoingGrainCallFilter));

        IServiceCollection plain = Services(null);
        Assert.False(HasMonitor(plain));
        Assert.False(HasFilter(plain));
        int hosted = plain.Count(static d => d.ServiceType == typeof(IHostedService));

        IServiceCollection monitored = Services(o => o.MonitorStuckRequests = true);
        Assert.True(Has<StuckRequests>(monitored) && HasMonitor(monitored));
        Assert.Equal(hosted + 1, monitored.Count(static d => d.ServiceType == typeof(IHostedService)));
        Assert.False(HasFilter(monitored));

        IServiceCollection explained = Services(o => o.ExplainTimeouts = true);
        Assert.True(HasFilter(explained));
        Assert.False(HasMonitor(explained));
    }
}
