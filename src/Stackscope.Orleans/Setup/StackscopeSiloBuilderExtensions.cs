using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Stackscope.Orleans.Cluster;
using Stackscope.Orleans.Inspection;

namespace Stackscope.Orleans;

/// <summary>Registers Stackscope in an Orleans silo, or in a host that is a cluster client.</summary>
public static class StackscopeSiloBuilderExtensions
{
    /// <summary>
    /// Registers <see cref="IGrainStacks"/> (this silo's and the cluster's request stacks), the grain service through which
    /// other silos read this one, and the stateless reader through which cluster clients read the cluster. Nothing runs per
    /// grain call: requests are read only when asked for. With <see cref="StackscopeOrleansOptions.TrackRequests"/>, TaskTracking is turned on when the silo starts.
    /// </summary>
    public static ISiloBuilder AddStackscope(this ISiloBuilder builder, Action<StackscopeOrleansOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        Configure(builder.Services, configure);
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
    /// <c>MapStackscope</c> serves the admin endpoint from this host.
    /// </summary>
    public static IClientBuilder AddStackscope(this IClientBuilder builder, Action<StackscopeOrleansOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        Configure(builder.Services, configure);
        builder.Services.AddSingleton<IGrainStacks, ClientGrainStacks>();
        return builder;
    }

    private static void Configure(IServiceCollection services, Action<StackscopeOrleansOptions>? configure)
    {
        services.AddOptions<StackscopeOrleansOptions>();
        if (configure is not null)
        {
            services.Configure(configure);
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
