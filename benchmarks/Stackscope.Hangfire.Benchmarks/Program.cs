using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/Stackscope.Hangfire.Benchmarks -- --filter '*'
// With --server-role it is one of ClusterReadBenchmarks' Hangfire servers, started by the benchmark in a process of its own.
if (args.Contains("--server-role"))
{
    return ClusterServerRole.Run(args);
}
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
return 0;
