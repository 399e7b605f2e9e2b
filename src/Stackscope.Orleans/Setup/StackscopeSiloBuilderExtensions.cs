using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Stackscope.Monitoring;
using Stackscope.Orleans.Cluster;
using Stackscope.Orleans.Inspection;
using Stackscope.Orleans.Monitoring;

namespace Stackscope.Orleans;

/// <summary>Registers Stackscope in an Orleans silo, or in a host that is a cluster client.</summary>
public static class StackscopeSiloBuilderExtensions
{
    /// <summary>
    /// Registers <see cref="IGrainStacks"/> (this silo's and the cluster's request stacks), the grain service through which
    /// other silos read this one, and the stateless reader through which cluster clients read the cluster. Nothing runs per
    /// grain call: requests are read only when asked for. With <see cref="StackscopeOrleansOptions.TrackRequests"/>, TaskTracking is turned on when the silo starts.
    /// With <see cref="StackscopeOrleansOptions.MonitorStuckRequests"/>, this silo's stuck requests are logged by the stuck-work
    /// monitor (this calls <c>services.AddStackscopeMonitor()</c>; call it too to set the monitor's threshold and intervals);
    /// with <see cref="StackscopeOrleansOptions.ExplainTimeouts"/>, grain calls that time out carry the callee's stack.
    /// </summary>
    /// <remarks>
    /// <paramref name="configure"/> is run once here, on options of its own, to decide what to register (the two options above),
    /// and again by the options system when the options are first read.
    /// </remarks>
    public static ISiloBuilder AddStackscope(this ISiloBuilder builder, Action<StackscopeOrleansOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        StackscopeOrleansOptions chosen = Configure(builder.Services, configure);
        if (chosen.MonitorStuckRequests)
        {
            builder.Services.AddStackscopeMonitor();
            if (!builder.Services.Any(static d => d.ServiceType == typeof(StuckRequests)))
            {
                builder.Services.AddSingleton<StuckRequests>();
                builder.Services.AddSingleton<IStuckWorkSource>(static sp => sp.GetRequiredService<StuckRequests>());
            }
        }
        if (chosen.ExplainTimeouts)
        {
            AddTimeoutExplainer(builder.Services, onClient: false);
        }
        builder.AddGrainService<SiloStacksService>();
        builder.Services.AddSingleton<SiloScanner>();
        builder.Services.AddSingleton<ISiloStacksClient, SiloStacksClient>();
        builder.Services.AddSingleton<IGrainStacks, SiloGrainStacks>();
        builder.Services.AddSingleton<IHostedService, TrackingStarter>();
        return builder;
    }

    /// <summary>
    /// Registers <see cref="IGrainStacks"/> in a host that is only a cluster client (an admin or web app next to the cluster):
    /// it reads every silo through the cluster, each silo running <c>siloBuilder.AddStackscope()</c>. Then
    /// <c>MapStackscope</c> serves the admin endpoint from this host. With <see cref="StackscopeOrleansOptions.ExplainTimeouts"/>,
    /// this client's grain calls that time out carry the callee's stack (<see cref="StackscopeOrleansOptions.MonitorStuckRequests"/>
    /// does nothing here: a client runs no requests).
    /// </summary>
    public static IClientBuilder AddStackscope(this IClientBuilder builder, Action<StackscopeOrleansOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        if (Configure(builder.Services, configure).ExplainTimeouts)
        {
            AddTimeoutExplainer(builder.Services, onClient: true);
        }
        builder.Services.AddSingleton<IGrainStacks, ClientGrainStacks>();
        return builder;
    }

    /// <summary>Registers the options' configuration; returns them as <paramref name="configure"/> sets them, to decide what to register.</summary>
    private static StackscopeOrleansOptions Configure(IServiceCollection services, Action<StackscopeOrleansOptions>? configure)
    {
        services.AddOptions<StackscopeOrleansOptions>();
        var chosen = new StackscopeOrleansOptions();
        if (configure is not null)
        {
            services.Configure(configure);
            configure(chosen);
        }
        return chosen;
    }

    private static void AddTimeoutExplainer(IServiceCollection services, bool onClient)
    {
        if (!services.Any(static d => d.ServiceType == typeof(TimeoutExplainer)))
        {
            services.AddSingleton(sp => new TimeoutExplainer(sp, onClient));
            services.AddSingleton<IOutgoingGrainCallFilter>(static sp => sp.GetRequiredService<TimeoutExplainer>());
        }
    }

    /// <summary>Turns on TaskTracking at start when the options ask for it (before the first request runs).</summary>
    private sealed class TrackingStarter(Microsoft.Extensions.Options.IOptions<StackscopeOrleansOptions> options) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            if (options.Value.TrackRequests && !TaskTracking.IsEnabled)
            {
                TaskTracking.Enable(TaskTrackingMode.Registry);
            }
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
