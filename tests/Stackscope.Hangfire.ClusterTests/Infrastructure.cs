using DotNet.Testcontainers.Containers;
using Stackscope.Tests;

namespace Stackscope.Hangfire.ClusterTests;

/// <summary>A storage server in a container (<see cref="Docker.ServiceContainers"/>), removed when disposed.</summary>
public sealed class StorageContainer : IAsyncDisposable
{
    private readonly IContainer _container;

    private StorageContainer(string kind, IContainer container, string connection)
    {
        Kind = kind;
        _container = container;
        Connection = connection;
    }

    public string Kind { get; }

    public string Connection { get; }

    public static async Task<StorageContainer> StartAsync(string kind)
    {
        (IContainer container, string connection) = await Docker.ServiceContainers.StartAsync(kind, kind == "postgres"
            ? "Timeout=5;Command Timeout=10"
            : "connectTimeout=5000,syncTimeout=5000,abortConnect=false");
        return new StorageContainer(kind, container, connection);
    }

    public async ValueTask DisposeAsync() => await _container.DisposeAsync();
}

/// <summary>A Hangfire worker service in its own OS process (tests/Stackscope.Hangfire.Worker), ended by its process id.</summary>
public sealed class WorkerProcess : IDisposable
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);
    private readonly LineProcess _process;

    private WorkerProcess(LineProcess process) => _process = process;

    public int Id => _process.Id;

    public string ServerId { get; private set; } = "?";

    public string Output => _process.Output;

    public static async Task<WorkerProcess> StartAsync(string storage, string connection, string server, string queue)
    {
        string dll = LineProcess.BuildOutputOf("Stackscope.Hangfire.ClusterTests", "Stackscope.Hangfire.Worker");
        var worker = new WorkerProcess(LineProcess.Start("worker " + server, dll, ["--storage", storage, "--connection", connection, "--server", server, "--queue", queue]));
        string ready = await worker._process.WaitForLineAsync(static l => l.StartsWith("ready ", StringComparison.Ordinal), Bound, "its ready line");
        worker.ServerId = ready["ready ".Length..];
        return worker;
    }

    public Task Entered(string key) => _process.WaitForLineAsync(l => l == "entered " + key, Bound, $"'entered {key}'");

    /// <summary>Waits until the job behind <paramref name="key"/> has entered its gate <paramref name="times"/> times (a job performed again).</summary>
    public Task EnteredTimes(string key, int times) => _process.WaitForCountAsync(l => l == "entered " + key, times, Bound, $"'entered {key}' {times} times");

    public void Send(string command) => _process.Send(command);

    /// <summary>Ends the process now, by its id (a worker killed mid-work).</summary>
    public void Kill() => _process.Kill();

    public void Dispose()
    {
        _process.Stop("exit", TimeSpan.FromSeconds(5));
        _process.Dispose();
    }
}
