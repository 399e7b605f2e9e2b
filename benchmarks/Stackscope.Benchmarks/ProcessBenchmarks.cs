using System.Diagnostics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Engines;
using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Runtime;
using Stackscope.Diagnostics;

namespace Stackscope.Benchmarks;

/// <summary>
/// Out of process: a target holding 100,000 suspended async state machines (10,000 chains of 10), read
/// the way dotnet-stackscope reads it (attach, threads, heap forest, names and lines, rendered to text)
/// against a bare ClrMD heap enumeration of the same target (attach, enumerate every object). Each
/// operation takes long enough to be timed alone (monitoring strategy: one invocation per iteration). Both are
/// measured at steady state: 30 warm-up reads first, since the JIT's tiering (30 calls, then a background
/// recompile) leaves the code a read calls once per object or node at tier 0 for the first 20 or so reads, and with
/// only 3 the baseline's enumeration and our read were each measured part cold, part warm.
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 30, iterationCount: 21)]
public class HeapBenchmarks
{
    private Process _shell = null!;
    private int _targetId;

    [GlobalSetup]
    public void Setup()
    {
        // Through a shell, as the tests' FixtureProcess: a direct child of this process could have its ptrace stop taken
        // by .NET's own SIGCHLD waitpid, and the attach (ours and the bare baseline's alike) would then wait forever.
        string fixture = Path.Combine(AppContext.BaseDirectory, "Stackscope.Fixture.dll");
        var start = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"exec 3<&0; dotnet \"{fixture}\" --chains 10000 --depth 10 <&3 3<&- & wait $!");
        _shell = Process.Start(start)!;
        Task<string?> ready = _shell.StandardOutput.ReadLineAsync();
        string? line = ready.Wait(TimeSpan.FromSeconds(60)) ? ready.Result : null;
        if (line?.StartsWith("READY ", StringComparison.Ordinal) != true)
        {
            _shell.Kill(entireProcessTree: true);
            throw new InvalidOperationException("the target did not start: " + line);
        }
        _targetId = int.Parse(line["READY ".Length..], System.Globalization.CultureInfo.InvariantCulture);
        ProcessSnapshot snapshot = ProcessInspector.Attach(_targetId);
        Console.WriteLine($"// target: {snapshot.Forest.OperationCount} async operations, largest group {snapshot.Forest.Groups[0].Count} x {snapshot.Forest.Groups[0].Stack.Frames.Count} frames");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _shell.StandardInput.WriteLine();
        if (!_shell.WaitForExit(60_000))
        {
            using Process target = Process.GetProcessById(_targetId);
            target.Kill(); // by its id, never by name
        }
        _shell.Dispose();
    }

    [Benchmark(Baseline = true, Description = "bare ClrMD: attach + enumerate heap objects")]
    public long BareHeapEnumeration()
    {
        using DataTarget target = DataTarget.AttachToProcess(_targetId, suspend: true);
        using ClrRuntime runtime = target.ClrVersions[0].CreateRuntime();
        long count = 0;
        foreach (ClrObject _ in runtime.Heap.EnumerateObjects())
        {
            count++;
        }
        return count;
    }

    [Benchmark(Description = "dotnet-stackscope: attach + threads + async forest + text")]
    public string StackscopeTotal() => ProcessInspector.Attach(_targetId).ToString();
}

/// <summary>
/// In process: every thread of a process with 50 extra threads (each blocked on an event), captured by
/// <see cref="ProcessInspector.CaptureCurrentProcess"/>, against writing the dump alone (the floor of that
/// mechanism: the runtime's createdump).
/// </summary>
[SimpleJob(RunStrategy.Monitoring, launchCount: 1, warmupCount: 1, iterationCount: 5)]
public class CaptureBenchmarks
{
    private readonly ManualResetEventSlim _release = new();
    private readonly List<Thread> _threads = new();

    [GlobalSetup]
    public void Setup()
    {
        using var started = new CountdownEvent(50);
        for (int i = 0; i < 50; i++)
        {
            var thread = new Thread(() =>
            {
                started.Signal();
                _release.Wait();
            }) { Name = $"worker-{i}", IsBackground = true };
            thread.Start();
            _threads.Add(thread);
        }
        started.Wait();
        ProcessSnapshot snapshot = ProcessInspector.CaptureCurrentProcess();
        Console.WriteLine($"// captured {snapshot.Threads.Count} managed threads");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _release.Set();
        _threads.ForEach(t => t.Join());
    }

    [Benchmark(Baseline = true, Description = "write a dump of this process (createdump)")]
    public void WriteDumpOnly()
    {
        string path = Path.Combine(Path.GetTempPath(), $"stackscope-bench-{Guid.NewGuid():N}.dmp");
        new DiagnosticsClient(Environment.ProcessId).WriteDump(DumpType.WithHeap, path);
        File.Delete(path);
    }

    [Benchmark(Description = "CaptureCurrentProcess: all threads + async forest")]
    public ProcessSnapshot CaptureAllThreads() => ProcessInspector.CaptureCurrentProcess();

    [Benchmark(Description = "CaptureCurrentProcess: threads only")]
    public ProcessSnapshot CaptureThreadsOnly() => ProcessInspector.CaptureCurrentProcess(InspectOptions.Default with { IncludeHeap = false });

    [Benchmark(Description = "CaptureCurrentProcess: threads only + frame strings")]
    public ProcessSnapshot CaptureThreadsAndFrameStrings() =>
        ProcessInspector.CaptureCurrentProcess(InspectOptions.Default with { IncludeHeap = false, IncludeFrameStrings = true });
}
