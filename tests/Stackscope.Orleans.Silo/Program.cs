using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Runtime;
using Stackscope.Orleans;
using Stackscope.Orleans.Silo;
using Stackscope.Tests;

// One Orleans silo in its own process, clustered through Redis, for the multi-process cluster tests:
//   --redis <connection> --cluster <cluster id> --name <silo name> [--no-stackscope]
// Listens on 127.0.0.1 only (silo and gateway ports chosen free). Prints "ready <silo address, parsable>" once started
// and "entered <key>" when a grain is suspended at a gate (tests/Shared/Gate.cs); takes on stdin "release <key>", "abandon <key>",
// "release-all" and "stop" (graceful stop, then exit 0). The end of stdin (the test process gone) stops it too.
string Arg(string name) => args.SkipWhile(a => a != "--" + name).Skip(1).FirstOrDefault()
    ?? throw new ArgumentException($"--{name} is required");

string redis = Arg("redis");
string clusterId = Arg("cluster");
string name = Arg("name");
bool stackscope = !args.Contains("--no-stackscope");

HostApplicationBuilder builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
builder.Logging.AddProvider(new StderrLog()).SetMinimumLevel(LogLevel.Warning);
builder.UseOrleans(silo =>
{
    silo.UseTestCluster(redis, clusterId, name);
    if (stackscope)
    {
        silo.AddStackscope(o => { o.TrackRequests = true; o.StuckThreshold = TimeSpan.Zero; });
    }
});
IHost host = builder.Build();
using (var starting = new CancellationTokenSource(TimeSpan.FromSeconds(90)))
{
    await host.StartAsync(starting.Token);
}
Console.Out.WriteLine("ready " + host.Services.GetRequiredService<ILocalSiloDetails>().SiloAddress.ToParsableString());

while (await Console.In.ReadLineAsync() is { } line)
{
    if (line == "stop")
    {
        break;
    }
    if (!Gate.Command(line))
    {
        Console.Error.WriteLine("unknown command: " + line);
    }
}

// "stop" or the end of stdin: a graceful stop (the silo leaves the cluster), bounded; released gates let requests end.
// Whatever the runtime does, the process is gone 30 s later: no silo outlives its test run.
var exitGuard = new Timer(static _ => Environment.Exit(3), null, TimeSpan.FromSeconds(30), Timeout.InfiniteTimeSpan);
Gate.ReleaseAll();
using (var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(20)))
{
    await host.StopAsync(stopping.Token);
}
host.Dispose();
Console.Out.WriteLine("stopped");
GC.KeepAlive(exitGuard);
return 0;
