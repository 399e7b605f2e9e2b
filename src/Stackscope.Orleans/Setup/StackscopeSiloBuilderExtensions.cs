using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Stackscope.Orleans.Cluster;

namespace Stackscope.Orleans;

/// <summary>Registers Stackscope in an Orleans silo.</summary>
public static class StackscopeSiloBuilderExtensions
{
    /// <summary>
    /// Registers <see cref="IGrainStacks"/> (this silo's and the cluster's request stacks) and the grain service every
    /// silo answers it through. Nothing runs per grain call: requests are read only when asked for. With
    /// <see cref="StackscopeOrleansOptions.TrackRequests"/>, TaskTracking is turned on when the silo starts.
    /// </summary>
    public static ISiloBuilder AddStackscope(this ISiloBuilder builder, Action<StackscopeOrleansOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.AddOptions<StackscopeOrleansOptions>();
        if (configure is not null)
        {
            builder.Services.Configure(configure);
        }
        builder.AddGrainService<SiloStacksService>();
        builder.Services.AddSingleton<ISiloStacksClient, SiloStacksClient>();
        builder.Services.AddSingleton<IGrainStacks, GrainStacks>();
        builder.Services.AddSingleton<IHostedService, TrackingStarter>();
        return builder;
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
