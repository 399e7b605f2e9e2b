using BenchmarkDotNet.Running;
using Stackscope.Orleans.Benchmarks;

// dotnet run -c Release --project benchmarks/Stackscope.Orleans.Benchmarks -- --filter '*'
// With --silo-role it is one silo of ClusterReadBenchmarks' or ClusterCallBenchmarks' cluster, started by the benchmark
// in a process of its own (SiloRole.cs).
if (args.Contains("--silo-role"))
{
    return await SiloRole.RunAsync(args);
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
