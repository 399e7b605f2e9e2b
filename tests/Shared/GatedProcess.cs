using Xunit.Abstractions;

namespace Stackscope.Tests;

/// <summary>
/// A node of a multi-process test cluster (an Orleans silo, an Akka node), ended by its process id: its code says "entered
/// &lt;key&gt;" on stdout when suspended at a gate (tests/Shared/Gate.cs), and the test releases it with a line on stdin. Every
/// wait is bounded and fails with what the process printed. Linked into the multi-process cluster test projects, whose
/// node types add how the node starts and what it is addressed by.
/// </summary>
public abstract class GatedProcess : IDisposable
{
    /// <summary>The bound of every wait on a node's output.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(60);

    private protected GatedProcess(string name, LineProcess process)
    {
        Name = name;
        Lines = process;
    }

    /// <summary>The node's name, as Stackscope reports it.</summary>
    public string Name { get; }

    /// <summary>Its process id.</summary>
    public int Id => Lines.Id;

    public bool HasExited => Lines.HasExited;

    /// <summary>Everything it printed: the protocol lines on stdout, the runtime's warnings on stderr.</summary>
    public string Output => Lines.Output;

    public int LineCount => Lines.LineCount;

    public string OutputSince(int mark) => Lines.OutputSince(mark);

    private protected LineProcess Lines { get; }

    /// <summary>
    /// Stops the process where it stands (SIGSTOP, by its id): it holds its sockets but answers nothing, as a hung machine.
    /// Returns once every thread of it is stopped (bounded): a thread running when the signal comes stops a moment later,
    /// and on a loaded machine a node answered a question in that moment.
    /// </summary>
    public void Freeze()
    {
        Signal(19);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!AllThreadsStopped())
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(10))
            {
                throw new TimeoutException($"{Name} (process {Id}) was sent SIGSTOP but its threads did not all stop within 10 s");
            }
            Thread.Sleep(5); // polling the kernel's view of a process: nothing in it can signal us
        }
    }

    /// <summary>Whether every thread of the process is stopped ("T" in /proc/&lt;pid&gt;/task/&lt;tid&gt;/stat).</summary>
    private bool AllThreadsStopped()
    {
        try
        {
            foreach (string task in Directory.GetDirectories($"/proc/{Id}/task"))
            {
                string stat = File.ReadAllText(Path.Combine(task, "stat"));
                if (stat[(stat.LastIndexOf(')') + 2)..].StartsWith('T') is false)
                {
                    return false;
                }
            }
            return true;
        }
        catch (IOException)
        {
            return false; // a thread ended while being read: look again
        }
    }

    /// <summary>Lets a frozen process run on (SIGCONT).</summary>
    public void Thaw() => Signal(18);

    private void Signal(int signal)
    {
        if (kill(Id, signal) != 0)
        {
            throw new InvalidOperationException($"signal {signal} to process {Id} ({Name}) failed");
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    /// <summary>Waits (bounded) until code on this node is suspended at the gate <paramref name="key"/>.</summary>
    public Task Entered(string key, TimeSpan? timeout = null) =>
        Lines.WaitForLineAsync(l => l == "entered " + key, timeout ?? Bound, $"'entered {key}'");

    /// <summary>Waits (bounded) until code on this node has entered the gate <paramref name="key"/> <paramref name="times"/> times.</summary>
    public Task EnteredTimes(string key, int times, TimeSpan? timeout = null) =>
        Lines.WaitForCountAsync(l => l == "entered " + key, times, timeout ?? Bound, $"'entered {key}' {times} times");

    /// <summary>Whether code on this node has entered the gate <paramref name="key"/> yet (no wait).</summary>
    public bool HasEntered(string key) => Lines.CountLines(l => l == "entered " + key) > 0;

    /// <summary>Waits (bounded) for a line of its output.</summary>
    public Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan? timeout = null, string what = "the awaited line") =>
        Lines.WaitForLineAsync(match, timeout ?? Bound, what);

    /// <summary>Writes a command line to its stdin: "release &lt;key&gt;", "abandon &lt;key&gt;", "release-all", "stop", or one of the node's own.</summary>
    public void Send(string line) => Lines.Send(line);

    /// <summary>Completes the gate <paramref name="key"/> in this process (the code awaiting it goes on).</summary>
    public void Release(string key) => Send("release " + key);

    /// <summary>Cancels the waits at the gate <paramref name="key"/> in this process (breaks a deadlock).</summary>
    public void Abandon(string key) => Send("abandon " + key);

    /// <summary>Stops the node gracefully (it leaves the cluster) and waits for its exit, at most <paramref name="timeout"/> (30 s); killed by its id past that. Returns whether it stopped by itself.</summary>
    public bool Stop(TimeSpan? timeout = null) => Lines.Stop("stop", timeout ?? TimeSpan.FromSeconds(30));

    /// <summary>Ends the process now, by its id (a node crashing).</summary>
    public void Kill() => Lines.Kill();

    /// <summary>Ends the process if it still runs: a graceful stop for a few seconds, then by its id.</summary>
    public void Dispose()
    {
        Lines.Stop("stop", TimeSpan.FromSeconds(10));
        Lines.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>
/// A test on a shared multi-process cluster: at its end every gate still held in any node is released (nothing stays
/// suspended into the next test) and what each node printed during the test is written to the test's output.
/// </summary>
public abstract class GatedProcessTest : IDisposable
{
    private readonly Func<IEnumerable<GatedProcess>> _nodes;
    private readonly Dictionary<GatedProcess, int> _marks;

    /// <param name="nodes">The cluster's nodes now (a test may replace one).</param>
    /// <param name="output">The test's output.</param>
    protected GatedProcessTest(Func<IEnumerable<GatedProcess>> nodes, ITestOutputHelper output)
    {
        _nodes = nodes;
        Output = output;
        _marks = nodes().ToDictionary(static n => n, static n => n.LineCount);
    }

    protected ITestOutputHelper Output { get; }

    public void Dispose()
    {
        foreach (GatedProcess node in _nodes())
        {
            try
            {
                if (!node.HasExited)
                {
                    node.Send("release-all");
                }
            }
            catch (IOException)
            {
                // it exited meanwhile
            }
        }
        foreach (GatedProcess node in _marks.Keys.Union(_nodes()))
        {
            Output.WriteLine(node.OutputSince(_marks.GetValueOrDefault(node)));
        }
        GC.SuppressFinalize(this);
    }
}
