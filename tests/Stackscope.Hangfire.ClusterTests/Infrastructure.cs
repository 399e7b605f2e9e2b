using System.Diagnostics;
using DotNet.Testcontainers.Containers;

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
    private readonly Process _process;
    private readonly object _gate = new();
    private readonly List<string> _lines = new();
    private readonly List<(Func<string, bool> Match, TaskCompletionSource<string> Seen)> _waiters = new();

    private WorkerProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => OnLine(e.Data);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data is null ? null : "stderr: " + e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string ServerId { get; private set; } = "?";

    public string Output
    {
        get
        {
            lock (_gate)
            {
                return string.Join("\n", _lines);
            }
        }
    }

    public static async Task<WorkerProcess> StartAsync(string storage, string connection, string server, string queue)
    {
        // The worker runs from its own build output, with its own dependencies (not this test's copy of its assembly).
        string dll = Path.Combine(AppContext.BaseDirectory.Replace("Stackscope.Hangfire.ClusterTests", "Stackscope.Hangfire.Worker", StringComparison.Ordinal), "Stackscope.Hangfire.Worker.dll");
        if (!File.Exists(dll))
        {
            throw new FileNotFoundException($"the worker is not built: {dll}");
        }
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (string arg in new[] { dll, "--storage", storage, "--connection", connection, "--server", server, "--queue", queue })
        {
            start.ArgumentList.Add(arg);
        }
        var worker = new WorkerProcess(Process.Start(start)!);
        string ready = await worker.WaitForLineAsync(static l => l.StartsWith("ready ", StringComparison.Ordinal), TimeSpan.FromSeconds(60));
        worker.ServerId = ready["ready ".Length..];
        return worker;
    }

    /// <summary>Waits for a line of the worker's output (one already printed counts), at most <paramref name="timeout"/>.</summary>
    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (_lines.FirstOrDefault(match) is { } line)
            {
                return line;
            }
            _waiters.Add((match, seen));
        }
        try
        {
            return await seen.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException($"worker {Id} did not print the awaited line within {timeout}; it printed:\n{Output}");
        }
    }

    public Task Entered(string key) => WaitForLineAsync(l => l == "entered " + key, TimeSpan.FromSeconds(60));

    /// <summary>Waits until the job behind <paramref name="key"/> has entered its gate <paramref name="times"/> times (a job performed again).</summary>
    public async Task EnteredTimes(string key, int times)
    {
        for (var clock = Stopwatch.StartNew(); clock.Elapsed < TimeSpan.FromSeconds(60); await Task.Delay(50))
        {
            lock (_gate)
            {
                if (_lines.Count(l => l == "entered " + key) >= times)
                {
                    return;
                }
            }
        }
        throw new TimeoutException($"worker {Id} did not enter {key} {times} times within 60 s; it printed:\n{Output}");
    }

    public void Send(string command)
    {
        _process.StandardInput.WriteLine(command);
        _process.StandardInput.Flush();
    }

    /// <summary>Ends the process now, by its id (a worker killed mid-work).</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                Send("exit");
                if (!_process.WaitForExit(5_000))
                {
                    Kill();
                }
            }
        }
        catch (Exception)
        {
            Kill();
        }
        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_gate)
        {
            _lines.Add(line);
            for (int i = _waiters.Count - 1; i >= 0; i--)
            {
                if (_waiters[i].Match(line))
                {
                    _waiters[i].Seen.TrySetResult(line);
                    _waiters.RemoveAt(i);
                }
            }
        }
    }
}
