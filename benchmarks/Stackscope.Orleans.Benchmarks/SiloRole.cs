using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Stackscope.Orleans.Silo;

namespace Stackscope.Orleans.Benchmarks;

/// <summary>
/// One silo of a multi-process cluster benchmark, in its own OS process: this program started again with
/// <c>--silo-role --redis &lt;connection&gt; --cluster &lt;id&gt; --name &lt;silo&gt; --stackscope off|default|track</c>
/// ("default": <c>AddStackscope()</c>; "track": <c>AddStackscope(o =&gt; o.TrackRequests = true)</c>), configured as the
/// multi-process cluster tests' silos (ClusterSettings.cs, linked: Redis membership, 127.0.0.1 only). Prints
/// "ready &lt;silo address&gt;" once started and "held &lt;key&gt;" per held request; answers "measure" with a line
/// "measured …" (its own scan's time); "stop" on stdin, or its end (the
/// benchmark's process gone), releases the held requests and stops the silo, bounded: the process is gone 30 s later.
/// </summary>
internal static class SiloRole
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name) => args.SkipWhile(a => a != "--" + name).Skip(1).FirstOrDefault() ?? throw new ArgumentException($"--{name} is required");
        string redis = Arg("redis");
        string clusterId = Arg("cluster");
        string name = Arg("name");
        string stackscope = Arg("stackscope");

        HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.AddProvider(new StderrLog()).SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleans(silo =>
        {
            silo.UseTestCluster(redis, clusterId, name);
            _ = stackscope switch
            {
                "off" => silo,
                "default" => silo.AddStackscope(),
                "track" => silo.AddStackscope(o => o.TrackRequests = true),
                _ => throw new ArgumentException($"--stackscope {stackscope}: off, default or track"),
            };
        });
        using IHost host = builder.Build();
        using (var starting = new CancellationTokenSource(TimeSpan.FromSeconds(90)))
        {
            await host.StartAsync(starting.Token);
        }
        Console.Out.WriteLine("ready " + host.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString());

        while (await Console.In.ReadLineAsync() is { } line && line != "stop")
        {
            if (line == "measure")
            {
                Console.Out.WriteLine("measured " + MeasureScan(host.Services));
            }
            else
            {
                Console.Error.WriteLine("unknown command: " + line);
            }
        }
        using var exitGuard = new Timer(static _ => Environment.Exit(3), null, TimeSpan.FromSeconds(30), Timeout.InfiniteTimeSpan);
        HeldGate.Release();
        using (var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
        {
            await host.StopAsync(stopping.Token);
        }
        Console.Out.WriteLine("stopped");
        return 0;
    }

    /// <summary>
    /// What answering a read costs this silo alone: its own scan (<c>IGrainStacks.GetSiloStacks()</c>, what it answers each
    /// gatherer with), one at a time, median of 9 after one not counted; with the activations and stacks it found.
    /// </summary>
    private static string MeasureScan(IServiceProvider services)
    {
        if (services.GetService<IGrainStacks>() is not { } stacks)
        {
            return "no scan: this silo runs without Stackscope";
        }
        SiloStacks report = stacks.GetSiloStacks();
        var times = new List<double>();
        int fewestStacks = int.MaxValue;
        for (int i = 0; i < 9; i++)
        {
            long start = Stopwatch.GetTimestamp();
            report = stacks.GetSiloStacks();
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            fewestStacks = Math.Min(fewestStacks, report.Activations.SelectMany(static a => a.Running).Count(static r => r.Stack is not null));
        }
        times.Sort();
        return $"its own scan of {report.ActivationCount} activations, {report.Activations.Count} busy, takes {times[4]:F1} ms "
            + $"(median of 9, {times[0]:F1}–{times[^1]:F1}; running requests with stacks: at least {fewestStacks} in each)";
    }
}
