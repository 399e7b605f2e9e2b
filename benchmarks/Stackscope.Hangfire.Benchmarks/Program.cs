using BenchmarkDotNet.Running;

// dotnet run -c Release --project benchmarks/Stackscope.Hangfire.Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
