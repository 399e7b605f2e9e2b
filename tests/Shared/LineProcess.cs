using System.Diagnostics;

namespace Stackscope.Tests;

/// <summary>
/// A child process that speaks lines on stdio: a .NET program of this repository run with <c>dotnet exec</c> from its own
/// build output. Every line it prints is kept (stderr's prefixed "stderr: ") and can be waited for, always with a bound
/// (a wait fails at once, with what it printed, when the process exits first); commands are lines written to its stdin;
/// it is ended by its process id. Linked into the test projects that run services as separate processes (the Hangfire
/// workers, the Orleans silos), which wrap it with their own protocol.
/// </summary>
internal sealed class LineProcess : IDisposable
{
    private readonly Process _process;
    private readonly object _gate = new();
    private readonly List<string> _lines = new();
    private readonly List<Waiter> _waiters = new();
    private readonly int _id;
    private bool _closed;
    private bool _disposed;
    private string _ended = "";

    private LineProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        _id = process.Id;
        _process.OutputDataReceived += (_, e) => OnLine(e.Data, stdout: true);
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data is null ? null : "stderr: " + e.Data, stdout: false);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>A name for messages (the role the process plays).</summary>
    public string Name { get; }

    public int Id => _id;

    public bool HasExited
    {
        get
        {
            lock (_gate)
            {
                return _disposed || _process.HasExited;
            }
        }
    }

    /// <summary>How many lines it has printed so far (a mark for <see cref="OutputSince"/>).</summary>
    public int LineCount
    {
        get
        {
            lock (_gate)
            {
                return _lines.Count;
            }
        }
    }

    /// <summary>Everything it printed, under a line naming it.</summary>
    public string Output => OutputSince(0);

    /// <summary>What it printed from line <paramref name="mark"/> on (a <see cref="LineCount"/>), under a line naming it.</summary>
    public string OutputSince(int mark)
    {
        lock (_gate)
        {
            return $"[{Name}, process {_id}{State()}]\n" + string.Join("\n", _lines.Skip(mark));
        }
    }

    /// <summary>
    /// The path of <paramref name="project"/>'s assembly in its own build output, beside this test's: the same
    /// configuration and framework, with its own dependencies (not this test's copy of a referenced assembly).
    /// </summary>
    public static string BuildOutputOf(string thisProject, string project)
    {
        string dll = Path.Combine(AppContext.BaseDirectory.Replace(thisProject, project, StringComparison.Ordinal), project + ".dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException($"{project} is not built: {dll}");
    }

    /// <summary>Starts <c>dotnet exec <paramref name="dll"/> <paramref name="args"/></c>, its standard streams redirected.</summary>
    public static LineProcess Start(string name, string dll, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(dll);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        return new LineProcess(name, Process.Start(start) ?? throw new InvalidOperationException($"could not start {name}"));
    }

    /// <summary>How many of the lines it has printed so far match (no wait).</summary>
    public int CountLines(Func<string, bool> match)
    {
        lock (_gate)
        {
            return _lines.Count(match);
        }
    }

    /// <summary>Waits for a line of its stdout or stderr (one already printed counts), at most <paramref name="timeout"/>.</summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, string what = "the awaited line") =>
        WaitForCountAsync(match, 1, timeout, what);

    /// <summary>Waits until <paramref name="count"/> of its lines (those already printed count) match, at most <paramref name="timeout"/>; returns the last.</summary>
    public async Task<string> WaitForCountAsync(Func<string, bool> match, int count, TimeSpan timeout, string what)
    {
        var waiter = new Waiter(match, count);
        lock (_gate)
        {
            foreach (string line in _lines)
            {
                waiter.Offer(line);
            }
            if (!waiter.Seen.Task.IsCompleted)
            {
                if (_closed)
                {
                    waiter.Seen.TrySetException(new InvalidOperationException("its output had ended"));
                }
                else
                {
                    _waiters.Add(waiter);
                }
            }
        }
        try
        {
            return await waiter.Seen.Task.WaitAsync(timeout);
        }
        catch (TimeoutException)
        {
            lock (_gate)
            {
                _waiters.Remove(waiter);
            }
            throw new TimeoutException($"{Name} (process {Id}) did not print {what} within {timeout}; it printed:\n{Output}");
        }
        catch (InvalidOperationException)
        {
            throw new InvalidOperationException($"{Name} (process {Id}) exited before it printed {what}; it printed:\n{Output}");
        }
    }

    /// <summary>Writes a line to its stdin.</summary>
    public void Send(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>
    /// Sends <paramref name="command"/> (its way to stop by itself) and waits at most <paramref name="timeout"/> for it to
    /// exit; ends it by its id if it has not. Returns whether it exited by itself.
    /// </summary>
    public bool Stop(string command, TimeSpan timeout)
    {
        try
        {
            if (HasExited)
            {
                return true;
            }
            Send(command);
            if (_process.WaitForExit(timeout))
            {
                return true;
            }
        }
        catch (Exception e) when (e is IOException or InvalidOperationException)
        {
            // its stdin already closed: it is leaving, or gone
        }
        Kill();
        return false;
    }

    /// <summary>Ends the process now, by its id.</summary>
    public void Kill()
    {
        if (!HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    /// <summary>Ends it by its id if it still runs.</summary>
    public void Dispose()
    {
        try
        {
            Kill();
        }
        catch (InvalidOperationException)
        {
            // never started, or already reaped
        }
        lock (_gate)
        {
            _ended = State();
            _disposed = true;
            _process.Dispose();
        }
    }

    private string State()
    {
        if (_disposed)
        {
            return _ended;
        }
        return _process.HasExited ? $", exited with {_process.ExitCode}" : "";
    }

    private void OnLine(string? line, bool stdout)
    {
        lock (_gate)
        {
            if (line is null)
            {
                if (stdout)
                {
                    _closed = true; // no line can come any more: the waits still open fail now, not at their bound
                    foreach (Waiter waiter in _waiters)
                    {
                        waiter.Seen.TrySetException(new InvalidOperationException("its output ended"));
                    }
                    _waiters.Clear();
                }
                return;
            }
            _lines.Add(line);
            _waiters.RemoveAll(w => w.Offer(line));
        }
    }

    private sealed class Waiter(Func<string, bool> match, int count)
    {
        private int _remaining = count;

        public TaskCompletionSource<string> Seen { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Counts <paramref name="line"/> if it matches; true once enough have.</summary>
        public bool Offer(string line)
        {
            if (match(line) && --_remaining <= 0)
            {
                Seen.TrySetResult(line);
                return true;
            }
            return false;
        }
    }
}
