using BenchmarkDotNet.Attributes;

namespace Stackscope.Benchmarks;

/// <summary>
/// The process-wide forest over 10,000 suspended 10-frame chains (100,000 async method boxes) with task
/// tracking on, caches warm. Baseline: copying the runtime's active-task registry, the least any
/// tracking-based forest must do.
/// </summary>
[MemoryDiagnoser]
public class ForestBenchmarks
{
    public const int Chains = 10_000;
    public const int Depth = 10;

    private TaskCompletionSource _gate = null!;
    private Task[] _chains = null!;

    [GlobalSetup]
    public void Setup()
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        _gate = new TaskCompletionSource();
        _chains = new Task[Chains];
        for (int i = 0; i < Chains; i++)
        {
            _chains[i] = Chain(Depth, _gate.Task);
        }
        StackForest forest = StackExtractor.ExtractAll();
        StackGroup top = forest.Groups[0];
        if (top.Count != Chains || top.Stack.Frames.Count != Depth)
        {
            throw new InvalidOperationException($"expected one group of {Chains} {Depth}-frame stacks, got:\n{forest}");
        }
        Console.WriteLine($"// forest: {forest.OperationCount} operations, {forest.Groups.Count} group(s), largest {top.Count}");
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _gate.SetResult();
        Task.WaitAll(_chains);
        TaskTracking.Disable();
    }

    [Benchmark(Baseline = true, Description = "copy the runtime's active-task registry (100,000 boxes)")]
    public int CopyRegistry() => TaskTracking.ActiveTasks().Length;

    [Benchmark(Description = "ExtractAll: forest of 10,000 10-frame chains")]
    public StackForest ExtractAll() => StackExtractor.ExtractAll();

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

/// <summary>
/// What task tracking costs a program that churns through async operations: each operation creates a
/// 3-frame chain, suspends it on a gate, completes the gate (resuming all three frames inline) and
/// collects the result. Same work with tracking off (baseline) and on, in one run.
/// </summary>
[MemoryDiagnoser]
public class TrackingChurnBenchmarks
{
    private const int Operations = 1000;

    [GlobalSetup(Target = nameof(WithFullTracking))]
    public void EnableFullTracking() => TaskTracking.Enable(TaskTrackingMode.Full);

    [GlobalSetup(Target = nameof(WithRegistryTracking))]
    public void EnableRegistryTracking() => TaskTracking.Enable(TaskTrackingMode.Registry);

    [GlobalCleanup(Targets = [nameof(WithFullTracking), nameof(WithRegistryTracking)])]
    public void DisableTracking() => TaskTracking.Disable();

    [Benchmark(Baseline = true, OperationsPerInvoke = Operations, Description = "3-frame async operation, tracking off")]
    public void WithoutTracking() => Churn();

    [Benchmark(OperationsPerInvoke = Operations, Description = "3-frame async operation, tracking Registry")]
    public void WithRegistryTracking() => Churn();

    [Benchmark(OperationsPerInvoke = Operations, Description = "3-frame async operation, tracking Full")]
    public void WithFullTracking() => Churn();

    private static void Churn()
    {
        for (int i = 0; i < Operations; i++)
        {
            var gate = new TaskCompletionSource();
            Task chain = Chain(3, gate.Task);
            gate.SetResult();
            chain.GetAwaiter().GetResult();
        }
    }

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
