using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Stackscope.Monitoring;

/// <summary>Registers the stuck-work monitor the Microsoft.Extensions.Hosting way.</summary>
public static class MonitorServiceCollectionExtensions
{
    /// <summary>
    /// Adds the <see cref="StuckWorkMonitor"/> as a hosted service polling every registered <see cref="IStuckWorkSource"/>
    /// (the glues add theirs: <c>siloBuilder.AddStackscope(o => o.MonitorStuckRequests = true)</c>, ...), and
    /// <see cref="WatchedTasks"/> for the operations the program chooses to watch. Idempotent: a second call only
    /// configures the options further.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">Sets the threshold, intervals and limits.</param>
    /// <returns>The same services.</returns>
    public static IServiceCollection AddStackscopeMonitor(this IServiceCollection services, Action<StackscopeMonitorOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.FirstOrDefault(static d => d.ServiceType == typeof(StackscopeMonitorOptions))?.ImplementationInstance is StackscopeMonitorOptions known)
        {
            configure?.Invoke(known);
            return services;
        }
        var options = new StackscopeMonitorOptions();
        configure?.Invoke(options);
        services.AddSingleton(options);
        services.TryAddSingleton<WatchedTasks>();
        services.AddSingleton<IStuckWorkSource>(static sp => sp.GetRequiredService<WatchedTasks>());
        services.AddSingleton(static sp => new StuckWorkMonitor(sp.GetServices<IStuckWorkSource>(), sp.GetRequiredService<StackscopeMonitorOptions>(),
            sp.GetRequiredService<ILogger<StuckWorkMonitor>>(), sp.GetService<TimeProvider>(), sp.GetService<System.Diagnostics.Metrics.IMeterFactory>()));
        services.AddSingleton<IHostedService>(static sp => sp.GetRequiredService<StuckWorkMonitor>());
        return services;
    }
}
