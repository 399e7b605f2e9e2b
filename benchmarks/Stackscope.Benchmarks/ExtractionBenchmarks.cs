using System.Diagnostics;
using System.Runtime.CompilerServices;
using BenchmarkDotNet.Attributes;

namespace Stackscope.Benchmarks;

/// <summary>
/// Extracting a suspended 100-frame async chain (names and await lines included, caches warm) against
/// capturing the runtime's own stack trace at the same depth, with and without file information.
/// </summary>
[MemoryDiagnoser]
public class ExtractionBenchmarks
{
    public const int Depth = 100;

    private TaskCompletionSource _gate = null!;
    private Task _chain = null!;
    private int _recursion = -1;
    private int _capturedFrames;

    [GlobalSetup]
    public void Setup()
    {
        _gate = new TaskCompletionSource();
        _chain = Chain(Depth, _gate.Task);
        LogicalStack warm = StackExtractor.Extract(_chain);
        if (warm.Frames.Count != Depth || warm.Frames.Any(f => f.Location is null))
        {
            throw new InvalidOperationException($"expected {Depth} frames with lines, got:\n{warm}");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _gate.SetResult();
        _chain.GetAwaiter().GetResult();
        if (_capturedFrames > 0)
        {
            Console.WriteLine($"// StackTrace captured {_capturedFrames} frames");
        }
    }

    [Benchmark(Baseline = true, Description = "new StackTrace(false), 100 frames")]
    public StackTrace StackTraceWithoutFileInfo() => Capture(static () => new StackTrace(false));

    [Benchmark(Description = "new StackTrace(true), 100 frames")]
    public StackTrace StackTraceWithFileInfo() => Capture(static () => new StackTrace(true));

    [Benchmark(Description = "Stackscope Extract, 100 async frames")]
    public LogicalStack Extract() => StackExtractor.Extract(_chain);

    [Benchmark(Description = "Stackscope Extract + flat text, 100 async frames")]
    public string ExtractAndFormat() => StackExtractor.Extract(_chain).ToString(StackFormat.Flat);

    /// <summary>Recurses so that the captured trace holds exactly <see cref="Depth"/> frames, harness included.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private StackTrace Capture(Func<StackTrace> capture)
    {
        if (_recursion < 0)
        {
            // Frames below this one belong to BenchmarkDotNet; measured once, in the pilot runs.
            int below = new StackTrace(false).FrameCount - 1;
            _recursion = Depth - below - 2; // this frame and the capturing lambda are the other two
        }
        StackTrace trace = Recurse(_recursion, capture);
        _capturedFrames = trace.FrameCount;
        if (_capturedFrames != Depth)
        {
            // The harness calls the pilot and the workload through different depths: correct once it shows.
            _recursion = Math.Max(1, _recursion + Depth - _capturedFrames);
        }
        return trace;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static T Recurse<T>(int depth, Func<T> atBottom) => depth <= 1 ? atBottom() : Recurse(depth - 1, atBottom);

    private static async Task Chain(int depth, Task gate)
    {
        if (depth <= 1)
        {
            await gate;
            return;
        }
        await Chain(depth - 1, gate);
    }
}
