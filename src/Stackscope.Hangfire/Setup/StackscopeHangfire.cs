using Hangfire;
using Hangfire.Dashboard;
using Hangfire.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Stackscope.Monitoring;
using Stackscope.Hangfire.Dashboard;
using Stackscope.Hangfire.Inspection;
using Stackscope.Hangfire.Tracking;

namespace Stackscope.Hangfire;

/// <summary>What <c>UseStackscope</c> sets up.</summary>
public sealed class StackscopeHangfireOptions
{
    /// <summary>Jobs performing at least this long are "stuck" (dumps and the dashboard page). Default 1 minute.</summary>
    public TimeSpan StuckThreshold { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>
    /// Turn on <see cref="TaskTracking"/> (process-wide, <see cref="TaskTrackingMode.Registry"/>): async jobs' task chains are
    /// found among the tracked tasks. A cost per async operation in the whole process (docs/performance.md); off by default.
    /// </summary>
    public bool TrackAsyncJobs { get; set; }

    /// <summary>Add the "Stacks" page to Hangfire's dashboard (<c>/stackscope</c> under the dashboard's path). On by default.</summary>
    public bool DashboardPage { get; set; } = true;

    /// <summary>
    /// How often each server's Stackscope process looks for a reader's request in the job storage (one hash read). Also the
    /// staleness bound of nothing: an answer is captured when the request is seen. Default 1 s.
    /// </summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long a read through the storage waits for the servers' answers; a server silent that long is listed as not answering. Default 3 s.</summary>
    public TimeSpan ReadBound { get; set; } = TimeSpan.FromSeconds(3);

    /// <summary>
    /// With <c>services.AddHangfireStackscope(...)</c>: report jobs running past the monitor's threshold through Stackscope's
    /// stuck-work monitor (<c>services.AddStackscopeMonitor()</c>, called for you; its options set the threshold): one
    /// warning per stuck job (<c>Stuck hangfire.job job 42 Shop.ReserveStock: running for 31.0 s; its logical stack: ...</c>),
    /// repeated at growing intervals, a line when it finishes. Off by default. Without DI, give
    /// <see cref="StackscopeHangfire.StuckJobSource"/> to a <see cref="Stackscope.Monitoring.StuckWorkMonitor"/>.
    /// </summary>
    public bool MonitorStuckJobs { get; set; }

    /// <summary>
    /// Stuck synchronous jobs (the monitor's and the shutdown log's) are reported with their worker thread's stack, read from
    /// a snapshot of this process (1–2 s, on the monitor's thread; for the monitor at most once a minute while a synchronous
    /// job stays stuck). Off by default: such jobs are reported without a stack, saying so. Async jobs need
    /// <see cref="TrackAsyncJobs"/> instead.
    /// </summary>
    public bool ReadThreadStacksWhenStuck { get; set; }

    /// <summary>
    /// When a server with Stackscope's server process stops (<see cref="StackscopeHangfire.ServerProcess()"/>, added by
    /// <c>AddHangfireStackscope</c> to servers started with <c>AddHangfireServer</c>): log, once each, as a warning with its
    /// stack, every job still running <see cref="ShutdownGrace"/> after its cancellation token was cancelled
    /// (<c>job 42 Shop.Export did not stop when the server shut down (cancellation requested 1.0 s ago); its logical stack: ...</c>).
    /// On by default; it costs a server nothing while it runs, and its shutdown nothing once its jobs have stopped. The watch
    /// runs on Stackscope's server process: a server stopped before that process first ran (in its first moments; Hangfire
    /// starts no process of a server already stopping) is not watched.
    /// </summary>
    public bool LogJobsIgnoringShutdown { get; set; } = true;

    /// <summary>How long a job may keep running after its cancellation token was cancelled before it is logged as ignoring it. Default 1 s, at most 30 s.</summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromSeconds(1);
}

/// <summary>
/// Stackscope for Hangfire: <see cref="UseStackscope"/> on Hangfire's configuration (or <see cref="AddHangfireStackscope"/>
/// on a service collection) records the jobs this process performs; <see cref="DumpLogicalStacks(BackgroundJobServer, JobDumpOptions?)"/>
/// and <see cref="CaptureLogicalStacks"/> say what each is doing.
/// </summary>
public static class StackscopeHangfire
{
    /// <summary>The options of the last <c>UseStackscope</c> call (Hangfire's configuration is itself process-wide).</summary>
    private static StackscopeHangfireOptions s_options = new();

    private static int s_pageAdded;

    /// <summary>How <see cref="AddHangfireStackscope"/> creates the server process (one delegate, so a second call sees it registered).</summary>
    private static readonly Func<IServiceProvider, object> s_serverProcess = static sp =>
        new Cluster.StackscopeServerProcess(static () => Volatile.Read(ref s_options), sp.GetService<ILoggerFactory>()?.CreateLogger(LoggerCategory));

    /// <summary>The category of what Stackscope logs about Hangfire servers (jobs that ignored a shutdown).</summary>
    private const string LoggerCategory = "Stackscope.Hangfire";

    /// <summary>
    /// Registers Stackscope with Hangfire: a server filter recording each job's start (negligible per job: one
    /// dictionary entry and an AsyncLocal), the dashboard page, and, if asked, task tracking.
    /// </summary>
    public static IGlobalConfiguration UseStackscope(this IGlobalConfiguration configuration, Action<StackscopeHangfireOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var options = new StackscopeHangfireOptions();
        configure?.Invoke(options);
        Volatile.Write(ref s_options, options);
        if (!GlobalJobFilters.Filters.Any(static f => f.Instance is StackscopeJobFilter))
        {
            configuration.UseFilter(new StackscopeJobFilter());
        }
        if (options.TrackAsyncJobs && !TaskTracking.IsEnabled)
        {
            TaskTracking.Enable(TaskTrackingMode.Registry);
        }
        if (options.DashboardPage && Interlocked.Exchange(ref s_pageAdded, 1) == 0)
        {
            DashboardRoutes.Routes.Add("/stackscope", new StackscopeDashboardPage());
            NavigationMenu.Items.Add(static page => new MenuItem("Stacks", page.Url.To("/stackscope")) { Active = page.RequestPath.StartsWith("/stackscope", StringComparison.Ordinal) });
            configuration.UseJobDetailsRenderer(100, JobDetailsStack.Render);
        }
        return configuration;
    }

    /// <summary>
    /// The service-collection form: <c>services.AddHangfireStackscope()</c> next to <c>services.AddHangfire(...)</c>. Servers
    /// added with <c>services.AddHangfireServer()</c> also run <see cref="ServerProcess()"/>, so other processes can read them
    /// and jobs ignoring a shutdown are logged (through the container's <see cref="ILoggerFactory"/>). With
    /// <see cref="StackscopeHangfireOptions.MonitorStuckJobs"/>, also registers Stackscope's stuck-work monitor
    /// (<c>services.AddStackscopeMonitor()</c>) with this process's jobs as one of its sources.
    /// </summary>
    public static IServiceCollection AddHangfireStackscope(this IServiceCollection services, Action<StackscopeHangfireOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        GlobalConfiguration.Configuration.UseStackscope(configure);
        if (!services.Any(static d => d.ServiceType == typeof(IBackgroundProcess) && (d.ImplementationInstance is Cluster.StackscopeServerProcess || Equals(d.ImplementationFactory, s_serverProcess))))
        {
            services.AddSingleton(typeof(IBackgroundProcess), s_serverProcess);
        }
        if (Volatile.Read(ref s_options).MonitorStuckJobs)
        {
            services.AddStackscopeMonitor();
            if (!services.Any(static d => d.ServiceType == typeof(IStuckWorkSource) && d.ImplementationInstance is Stuck.StuckJobSource))
            {
                services.AddSingleton<IStuckWorkSource>(StuckJobSource());
            }
        }
        return services;
    }

    /// <summary>
    /// The jobs this process performs as a source of stuck work, for a <see cref="StuckWorkMonitor"/> built by hand (without
    /// DI, <c>new StuckWorkMonitor([StackscopeHangfire.StuckJobSource()], new StackscopeMonitorOptions(), logger)</c>; with
    /// DI, <see cref="StackscopeHangfireOptions.MonitorStuckJobs"/> registers it). Each job execution running past the
    /// monitor's threshold is one operation of kind <c>hangfire.job</c> named <c>job 42 Shop.ReserveStock</c> (no argument
    /// values), with its stack (async jobs with <see cref="StackscopeHangfireOptions.TrackAsyncJobs"/>; synchronous ones with
    /// <see cref="StackscopeHangfireOptions.ReadThreadStacksWhenStuck"/>) and the activity it runs in.
    /// </summary>
    public static IStuckWorkSource StuckJobSource() => new Stuck.StuckJobSource(static () => Volatile.Read(ref s_options));

    /// <summary>
    /// The background process that lets other processes read this server through the job storage: pass it to a server
    /// started by hand, <c>new BackgroundJobServer(options, storage, [StackscopeHangfire.ServerProcess()])</c>
    /// (<see cref="AddHangfireStackscope"/> adds it to servers started with <c>AddHangfireServer</c>). It reads one storage
    /// hash per <see cref="StackscopeHangfireOptions.PollInterval"/> and answers a reader's request with this server's jobs.
    /// </summary>
    public static IBackgroundProcess ServerProcess() => new Cluster.StackscopeServerProcess(static () => Volatile.Read(ref s_options));

    /// <summary>
    /// <see cref="ServerProcess()"/> logging to <paramref name="logger"/> the jobs that ignore the server's shutdown
    /// (<see cref="StackscopeHangfireOptions.LogJobsIgnoringShutdown"/>); without a logger they are written where Hangfire
    /// writes its own logs (its <c>LogProvider</c>).
    /// </summary>
    /// <param name="logger">Where the jobs that did not stop are logged.</param>
    public static IBackgroundProcess ServerProcess(ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        return new Cluster.StackscopeServerProcess(static () => Volatile.Read(ref s_options), logger);
    }

    /// <summary>
    /// Every server of <paramref name="storage"/> (default <see cref="JobStorage.Current"/>), from any process connected to it:
    /// each server's jobs with their stacks, or why it did not answer within <paramref name="bound"/> (default
    /// <see cref="StackscopeHangfireOptions.ReadBound"/>). Never waits longer; never throws for a server's or the storage's fault.
    /// </summary>
    public static Task<HangfireStacks> ReadAllServersAsync(JobStorage? storage = null, TimeSpan? bound = null, CancellationToken cancellationToken = default)
    {
        StackscopeHangfireOptions options = Volatile.Read(ref s_options);
        JobStorage? target = storage;
        if (target is null)
        {
            try
            {
                target = JobStorage.Current;
            }
            catch (InvalidOperationException e)
            {
                return Task.FromResult(new HangfireStacks([], bound ?? options.ReadBound, [e.Message]));
            }
        }
        return Cluster.ClusterReader.ReadAsync(target, bound ?? options.ReadBound, cancellationToken);
    }

    /// <summary>The jobs this process is performing and what each is doing. Never throws.</summary>
    public static JobsDump CaptureLogicalStacks(JobDumpOptions? options = null) => JobScan.Read(options ?? DefaultDumpOptions());

    /// <summary>The jobs this process is performing (on every server in it; Hangfire records jobs per process) as text.</summary>
    public static string DumpLogicalStacks(this BackgroundJobServer server, JobDumpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(server);
        return CaptureLogicalStacks(options).ToString();
    }

    private static JobDumpOptions DefaultDumpOptions() => DumpOptions(Volatile.Read(ref s_options));

    internal static JobDumpOptions DumpOptions(StackscopeHangfireOptions options) => JobDumpOptions.Default with { StuckThreshold = options.StuckThreshold };
}
