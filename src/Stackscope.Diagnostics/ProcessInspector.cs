using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Runtime;
using Stackscope.Diagnostics.Clr;

namespace Stackscope.Diagnostics;

/// <summary>Options for reading a whole process.</summary>
public sealed record InspectOptions
{
    /// <summary>The options used when none are given.</summary>
    public static InspectOptions Default { get; } = new();

    /// <summary>Whether to walk the heap for pending async operations (the forest). Default <see langword="true"/>.</summary>
    public bool IncludeHeap { get; init; } = true;

    /// <summary>Reports the number of heap objects scanned so far, every 65,536 objects.</summary>
    public IProgress<long>? Progress { get; init; }

    /// <summary>The most frames read per thread and per stack. Default 1,000.</summary>
    public int MaxDepth { get; init; } = 1000;

    /// <summary>
    /// Whether to read, for every thread, the strings its frames keep alive (<see cref="ThreadStack.FrameStrings"/>): what a
    /// blocked frame works on, such as the name of the lock it waits for. Default <see langword="false"/>: it walks every
    /// thread's stack roots, which otherwise only threads resuming or blocked on async code need.
    /// </summary>
    public bool IncludeFrameStrings { get; init; }
}

/// <summary>
/// Reads every managed thread and the async forest of a process with ClrMD: a live process by attaching to
/// it, a core dump, or the current process through a dump of itself written by the runtime's createdump.
/// </summary>
/// <remarks>
/// <para>Attaching suspends the target (ptrace on Linux) for as long as the read takes; it needs the right to
/// trace the target (the same user and a permissive <c>kernel.yama.ptrace_scope</c>, or root; in a container,
/// the SYS_PTRACE capability). A process cannot ptrace itself, so <see cref="CaptureCurrentProcess"/> asks the
/// runtime (over its diagnostics port) to write a dump with heap and reads that: it costs the time and disk
/// of a heap dump, and needs the same rights for createdump plus room in the temp folder.</para>
/// <para>Failures surface as <see cref="InspectionException"/> with the cause; reading never leaves the target
/// suspended, and cancellation detaches cleanly.</para>
/// </remarks>
public static class ProcessInspector
{
    /// <summary>Attaches to a live process, reads it, and detaches.</summary>
    /// <remarks>
    /// On Linux the attach is ptrace's, and this process becomes the target's tracer for the length of the read. Every
    /// thread of the target is stopped within <see cref="StopBound"/>, or the attach fails: a child this process started
    /// with <see cref="System.Diagnostics.Process"/> too (.NET's own SIGCHLD handling may collect its stops; they are seen
    /// in /proc instead, where ClrMD's own suspension would wait for them forever).
    /// </remarks>
    /// <param name="processId">The target process id.</param>
    /// <param name="options">Options, or null for <see cref="InspectOptions.Default"/>.</param>
    /// <param name="cancellation">Stops the read (the target is resumed and detached).</param>
    /// <exception cref="InspectionException">The process could not be attached to or read.</exception>
    public static ProcessSnapshot Attach(int processId, InspectOptions? options = null, CancellationToken cancellation = default)
    {
        if (processId == Environment.ProcessId)
        {
            throw new InspectionException("a process cannot attach to itself; use CaptureCurrentProcess");
        }
        // Never attach only to detach at once: a detach racing the attach's thread stops can leave a thread
        // of the target stopped under trace. Cancellation before the read means no attach at all.
        cancellation.ThrowIfCancellationRequested();
        using Ptrace.ThreadStop? stopped = OperatingSystem.IsLinux() ? Ptrace.ThreadStop.Stop(processId, StopBound) : null;
        DataTarget target;
        try
        {
            target = DataTarget.AttachToProcess(processId, suspend: stopped is null);
            if (stopped is not null)
            {
                // Every thread stays stopped until the read ends: what the process holds cannot change, and the runtime's
                // many small reads of it are served from pages read once.
                target = new DataTarget(new Clr.PageCacheReader(target.DataReader, owner: target), target.Options);
            }
        }
        catch (Exception e)
        {
            throw new InspectionException($"could not attach to process {processId}: {e.Message} (is it a .NET process, running, and may this user trace it?)", e);
        }
        using (target)
        {
            return Read(target, "attach", processId, options, cancellation);
        }
    }

    /// <summary>How long an attach waits for the target's threads to stop (on Linux) before it fails.</summary>
    private static readonly TimeSpan StopBound = TimeSpan.FromSeconds(10);

    /// <summary>Reads a core dump (written by createdump, dotnet-dump or the runtime's crash dump).</summary>
    /// <param name="dumpPath">The dump file.</param>
    /// <param name="options">Options, or null for <see cref="InspectOptions.Default"/>.</param>
    /// <param name="cancellation">Stops the read.</param>
    /// <exception cref="InspectionException">The dump could not be opened or read.</exception>
    public static ProcessSnapshot OpenDump(string dumpPath, InspectOptions? options = null, CancellationToken cancellation = default)
    {
        DataTarget target;
        try
        {
            target = DataTarget.LoadDump(dumpPath);
        }
        catch (Exception e)
        {
            throw new InspectionException($"could not open dump {dumpPath}: {e.Message}", e);
        }
        using (target)
        {
            return Read(target, "dump", DumpProcessId(target), options, cancellation);
        }
    }

    /// <summary>The id of the process a dump was written from, as the dump records it (ClrMD's reader), or 0 if it does not.</summary>
    private static int DumpProcessId(DataTarget target)
    {
        try
        {
            return Math.Max(0, target.DataReader.ProcessId);
        }
        catch (Exception)
        {
            return 0;
        }
    }

    /// <summary>
    /// Reads the current process: every managed thread (with async methods joined to their logical callers)
    /// and the async forest. The runtime writes a dump of this process with its createdump tool (this
    /// thread waits for it), which is read and deleted.
    /// </summary>
    /// <param name="options">Options, or null for <see cref="InspectOptions.Default"/>.</param>
    /// <param name="cancellation">Stops the read after the dump is written.</param>
    /// <exception cref="InspectionException">The dump could not be written or read.</exception>
    public static ProcessSnapshot CaptureCurrentProcess(InspectOptions? options = null, CancellationToken cancellation = default)
    {
        string path = Path.Combine(Path.GetTempPath(), $"stackscope-{Environment.ProcessId}-{Guid.NewGuid():N}.dmp");
        try
        {
            try
            {
                new DiagnosticsClient(Environment.ProcessId).WriteDump(DumpType.WithHeap, path, logDumpGeneration: false);
            }
            catch (Exception e)
            {
                throw new InspectionException($"the runtime could not write a dump of this process: {e.Message}", e);
            }
            using DataTarget target = DataTarget.LoadDump(path);
            ProcessSnapshot read = Read(target, "in-process", Environment.ProcessId, options, cancellation);
            return new ProcessSnapshot("in-process", Environment.ProcessId, read.Threads, read.Forest, read.Errors);
        }
        finally
        {
            try
            {
                File.Delete(path);
            }
            catch (IOException)
            {
                // Best effort: a dump left in the temp folder is not worth failing the capture for.
            }
        }
    }

    private static ProcessSnapshot Read(DataTarget target, string source, int processId, InspectOptions? options, CancellationToken cancellation)
    {
        if (target.ClrVersions.Length == 0)
        {
            throw new InspectionException("no .NET runtime found in the target");
        }
        try
        {
            using ClrRuntime runtime = target.ClrVersions[0].CreateRuntime();
            TargetSymbols symbols = TargetSymbols.Open(runtime.EnumerateModules().Select(m => m.Name).OfType<string>());
            try
            {
                // A live process on this machine shares this process's clock (time left on its timers); a dump has none.
                return new SnapshotReader(runtime, symbols, options ?? InspectOptions.Default, live: source == "attach", cancellation).Read(source, processId);
            }
            finally
            {
                symbols.Release();
            }
        }
        catch (OperationCanceledException)
        {
            throw;
        }
        catch (Exception e) when (e is not InspectionException)
        {
            throw new InspectionException("reading the target failed: " + e.Message, e);
        }
    }
}

/// <summary>A process or dump could not be read; the message says why.</summary>
public sealed class InspectionException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">Why the read failed.</param>
    /// <param name="inner">The underlying error, if any.</param>
    public InspectionException(string message, Exception? inner = null) : base(message, inner)
    {
    }
}
