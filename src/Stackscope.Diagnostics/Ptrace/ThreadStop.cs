using System.Runtime.InteropServices;

namespace Stackscope.Diagnostics.Ptrace;

/// <summary>
/// Every thread of a live Linux process stopped with ptrace, within a bound, while ClrMD reads it (attached without
/// suspending it itself); disposing detaches them, and they run on.
/// </summary>
/// <remarks>
/// <para>
/// ClrMD's own suspension waits for each thread's stop with a blocking <c>waitpid</c>. When the target is a child of this
/// process, .NET's SIGCHLD handling (it reaps the children <see cref="System.Diagnostics.Process"/> started) can collect
/// that stop first, and the attach then waits forever: here 300 attaches to a child hung at the 26th to 69th. Here each
/// stop is polled, and a thread <c>/proc</c> shows in a traced stop counts as stopped whoever collected the notice; a
/// thread that does not stop within the bound fails the attach with an error naming it.
/// </para>
/// <para>
/// ptrace binds a tracee to the thread that attached, not to the process: stopping, reading the threads' registers and
/// detaching all happen on the thread that calls <see cref="Stop"/>, as <see cref="ProcessInspector.Attach"/> does.
/// </para>
/// </remarks>
internal sealed class ThreadStop : IDisposable
{
    private const int PtraceAttach = 16;
    private const int PtraceDetach = 17;
    private const int WaitNoHang = 1;
    private const int WaitAll = 0x40000000; // __WALL: threads as well as processes
    private const int NoSuchProcess = 3; // ESRCH
    private const int NotPermitted = 1; // EPERM

    /// <summary>New threads can start until every thread is stopped: the thread list is read again until a pass finds none new, as ClrMD does.</summary>
    private const int MaxPasses = 100;

    private readonly int _processId;
    private readonly List<int> _stopped = new();

    private ThreadStop(int processId) => _processId = processId;

    /// <summary>Stops every thread of <paramref name="processId"/>, all within <paramref name="bound"/>.</summary>
    /// <remarks>
    /// Not cancellable once begun: a thread attached to but not yet stopped cannot be detached (a detach needs the stop),
    /// and would stay stopped under this process's trace. The bound ends the wait instead.
    /// </remarks>
    /// <exception cref="InspectionException">A thread could not be attached to or did not stop in time (every thread stopped so far is let go).</exception>
    public static ThreadStop Stop(int processId, TimeSpan bound)
    {
        var stop = new ThreadStop(processId);
        try
        {
            stop.StopAll(Environment.TickCount64 + (long)bound.TotalMilliseconds, bound);
            return stop;
        }
        catch
        {
            stop.Dispose();
            throw;
        }
    }

    private void StopAll(long deadline, TimeSpan bound)
    {
        var seen = new HashSet<int>();
        var pending = new List<int>();
        for (int pass = 0; pass < MaxPasses; pass++)
        {
            bool found = false;
            foreach (int thread in Threads())
            {
                if (!seen.Add(thread))
                {
                    continue;
                }
                found = true;
                if (ptrace(PtraceAttach, thread, IntPtr.Zero, IntPtr.Zero) < 0)
                {
                    int error = Marshal.GetLastPInvokeError();
                    if (error == NoSuchProcess)
                    {
                        continue; // it ended meanwhile
                    }
                    throw new InspectionException(error == NotPermitted
                        ? $"could not attach to process {_processId}: not permitted to ptrace it (the same user with kernel.yama.ptrace_scope 0 or 1 for a child, root, or the SYS_PTRACE capability)"
                        : $"could not attach to process {_processId}: ptrace of its thread {thread} failed with error {error}");
                }
                pending.Add(thread);
            }
            var spin = new SpinWait();
            while (pending.Count > 0)
            {
                for (int i = pending.Count - 1; i >= 0; i--)
                {
                    if (Poll(pending[i]) is { } stopped)
                    {
                        if (stopped)
                        {
                            _stopped.Add(pending[i]);
                        }
                        pending.RemoveAt(i);
                    }
                }
                if (pending.Count == 0)
                {
                    break;
                }
                if (Environment.TickCount64 > deadline)
                {
                    // Attached but not stopped: detached once they stop (a detach needs the stop), by the kernel when this process ends.
                    throw new InspectionException($"could not attach to process {_processId}: its thread {pending[0]} did not stop within {bound.TotalSeconds:0.#} s");
                }
                spin.SpinOnce();
            }
            if (!found)
            {
                return;
            }
        }
    }

    /// <summary>Whether <paramref name="thread"/> is stopped (true), gone (false), or not yet stopped (null).</summary>
    private bool? Poll(int thread)
    {
        int waited = waitpid(thread, out int status, WaitNoHang | WaitAll);
        if (waited == thread)
        {
            return (status & 0xff) == 0x7f; // WIFSTOPPED; else it exited
        }
        // Not reported to this wait: stopped all the same if /proc shows it in a traced stop (another waiter took the notice).
        return StateOf(thread) switch
        {
            null => false,
            't' => true,
            _ => null,
        };
    }

    /// <summary>A thread's state letter from <c>/proc/&lt;pid&gt;/task/&lt;tid&gt;/stat</c> (after the command name, which may hold spaces and parentheses); null if it is gone.</summary>
    private char? StateOf(int thread)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{_processId}/task/{thread}/stat");
            int end = stat.LastIndexOf(')');
            return end >= 0 && end + 2 < stat.Length ? stat[end + 2] : null;
        }
        catch (IOException)
        {
            return null;
        }
    }

    private IEnumerable<int> Threads()
    {
        string[] tasks;
        try
        {
            tasks = Directory.GetDirectories($"/proc/{_processId}/task");
        }
        catch (IOException e)
        {
            throw new InspectionException($"could not attach to process {_processId}: it is not running", e);
        }
        foreach (string task in tasks)
        {
            if (int.TryParse(Path.GetFileName(task), out int thread))
            {
                yield return thread;
            }
        }
    }

    /// <summary>Lets every stopped thread run on.</summary>
    public void Dispose()
    {
        foreach (int thread in _stopped)
        {
            ptrace(PtraceDetach, thread, IntPtr.Zero, IntPtr.Zero); // a thread that ended meanwhile has nothing to detach
        }
        _stopped.Clear();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern long ptrace(long request, int pid, IntPtr addr, IntPtr data);

    [DllImport("libc", SetLastError = true)]
    private static extern int waitpid(int pid, out int status, int options);
}
