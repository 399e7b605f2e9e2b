using BenchmarkDotNet.Running;
using Stackscope.Akka.Benchmarks;

// dotnet run -c Release --project benchmarks/Stackscope.Akka.Benchmarks -- --filter '*'
// With --node-role it is one other node of ClusterDumpBenchmarks' cluster, started by the benchmark in a process of its
// own (BenchNode.cs).
if (args.Contains("--node-role"))
{
    return await NodeRole.RunAsync(args);
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
