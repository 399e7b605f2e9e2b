using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Stackscope.Monitoring;

namespace Stackscope.Akka;

/// <summary>
/// The stuck-work monitor for actor systems: in a host (<see cref="AddAkkaStuckWork(IServiceCollection, ActorSystem, Action{AkkaStuckWorkOptions}?)"/>),
/// or started on the system itself (<see cref="StartStackscopeMonitor"/>). Costs nothing unless one of them is called.
/// </summary>
public static class StackscopeAkkaMonitoring
{
    /// <summary>
    /// Adds the stuck-work monitor (<see cref="MonitorServiceCollectionExtensions.AddStackscopeMonitor"/>, if not added yet)
    /// and <paramref name="system"/>'s busy actors and pending Asks as one of its sources (<see cref="ActorSystemStuckWork"/>).
    /// Call it once per actor system.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="system">The actor system.</param>
    /// <param name="configure">What to report.</param>
    /// <returns>The same services.</returns>
    public static IServiceCollection AddAkkaStuckWork(this IServiceCollection services, ActorSystem system, Action<AkkaStuckWorkOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(system);
        services.AddStackscopeMonitor();
        services.AddSingleton<IStuckWorkSource>(sp => new ActorSystemStuckWork(system, Options(configure), sp.GetService<TimeProvider>()));
        return services;
    }

    /// <summary>
    /// Adds the stuck-work monitor (if not added yet) and, as one of its sources, the busy actors and pending Asks of the
    /// <see cref="ActorSystem"/> the services provide, resolved at the monitor's first poll (so it may be registered by
    /// a factory or created by a hosted service that starts before the monitor polls). Until a system can be resolved,
    /// each poll says so once (the monitor's "source failed" warning) and reads the other sources.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configure">What to report.</param>
    /// <returns>The same services.</returns>
    public static IServiceCollection AddAkkaStuckWork(this IServiceCollection services, Action<AkkaStuckWorkOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddStackscopeMonitor();
        services.AddSingleton<IStuckWorkSource>(sp => new ActorSystemStuckWork(() => sp.GetService<ActorSystem>()
            ?? throw new InvalidOperationException("Stackscope's Akka stuck-work source found no ActorSystem in the services: register one, or pass it to AddAkkaStuckWork(system)"),
            Options(configure), sp.GetService<TimeProvider>()));
        return services;
    }

    /// <summary>
    /// Starts a <see cref="StuckWorkMonitor"/> of <paramref name="system"/> without a host (where no service collection
    /// exists): it polls on its own timer, logs through <paramref name="loggerFactory"/>, and stops when the system
    /// terminates or the returned monitor is disposed.
    /// </summary>
    /// <param name="system">The actor system.</param>
    /// <param name="loggerFactory">Where warnings go (category <c>Stackscope.Monitoring.StuckWorkMonitor</c>).</param>
    /// <param name="configure">The monitor's threshold, intervals and limits.</param>
    /// <param name="configureSource">What the system's source reports.</param>
    /// <returns>The running monitor; dispose it to stop it.</returns>
    public static StackscopeAkkaMonitor StartStackscopeMonitor(this ActorSystem system, ILoggerFactory loggerFactory,
        Action<StackscopeMonitorOptions>? configure = null, Action<AkkaStuckWorkOptions>? configureSource = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var options = new StackscopeMonitorOptions();
        configure?.Invoke(options);
        var source = new ActorSystemStuckWork(system, Options(configureSource));
        var monitor = new StuckWorkMonitor([source], options, loggerFactory.CreateLogger<StuckWorkMonitor>());
        var running = new StackscopeAkkaMonitor(monitor, source);
        running.Start(system);
        return running;
    }

    private static AkkaStuckWorkOptions Options(Action<AkkaStuckWorkOptions>? configure)
    {
        var options = new AkkaStuckWorkOptions();
        configure?.Invoke(options);
        return options;
    }
}

/// <summary>A stuck-work monitor started on an actor system (<see cref="StackscopeAkkaMonitoring.StartStackscopeMonitor"/>); stops when disposed or when the system terminates.</summary>
public sealed class StackscopeAkkaMonitor : IAsyncDisposable
{
    private int _stopped;

    internal StackscopeAkkaMonitor(StuckWorkMonitor monitor, ActorSystemStuckWork source)
    {
        Monitor = monitor;
        Source = source;
    }

    /// <summary>The monitor (<see cref="StuckWorkMonitor.Poll"/> runs a poll now; <see cref="StuckWorkMonitor.Stuck"/> is what the last one found).</summary>
    public StuckWorkMonitor Monitor { get; }

    /// <summary>The system's source.</summary>
    public ActorSystemStuckWork Source { get; }

    internal void Start(ActorSystem system)
    {
        // BackgroundService.StartAsync returns once ExecuteAsync awaits its first tick.
        Monitor.StartAsync(CancellationToken.None).GetAwaiter().GetResult();
        system.WhenTerminated.ContinueWith(static (_, state) => ((StackscopeAkkaMonitor)state!).DisposeAsync().AsTask(), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    /// <summary>Stops polling (waits for a poll under way) and releases the monitor's gauge.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }
        await Monitor.StopAsync(CancellationToken.None).ConfigureAwait(false);
        Monitor.Dispose();
    }
}
