using Hangfire;
using Stackscope.Hangfire;
using Stackscope.Hangfire.Worker;

// A Hangfire worker service in its own process: `--storage postgres|redis --connection <string> --server <name> --queue <queue>`.
// Prints "ready <server id>" once its server runs; takes "release <key>" and "exit" on stdin.
string Arg(string name) => args.SkipWhile(a => a != "--" + name).Skip(1).FirstOrDefault()
    ?? throw new ArgumentException($"--{name} is required");

JobStorage storage = Storages.Create(Arg("storage"), Arg("connection"));
GlobalConfiguration.Configuration.UseStorage(storage).UseStackscope(o => { o.TrackAsyncJobs = true; o.StuckThreshold = TimeSpan.Zero; o.PollInterval = TimeSpan.FromMilliseconds(250); });
using var server = new BackgroundJobServer(
    new BackgroundJobServerOptions { ServerName = Arg("server"), Queues = [Arg("queue")], WorkerCount = 4, SchedulePollingInterval = TimeSpan.FromSeconds(1) },
    storage,
    [StackscopeHangfire.ServerProcess()]);

string? serverId = null;
for (int i = 0; i < 200 && serverId is null; i++)
{
    serverId = storage.GetMonitoringApi().Servers().FirstOrDefault(s => s.Name.StartsWith(Arg("server") + ":", StringComparison.Ordinal))?.Name;
    if (serverId is null)
    {
        Thread.Sleep(50); // polling the storage for our own registration: bounded, 10 s at most
    }
}
Console.Out.WriteLine("ready " + (serverId ?? "?"));

while (Console.In.ReadLine() is { } line)
{
    if (line == "exit")
    {
        break;
    }
    if (line.StartsWith("release ", StringComparison.Ordinal))
    {
        Gates.Release(line["release ".Length..]);
    }
}
return 0;
