using System.Diagnostics;
using System.Reflection;
using System.Threading.Channels;
using BenchmarkDotNet.Attributes;
using DotNet.Testcontainers.Containers;
using Hangfire;
using Hangfire.Common;
using Hangfire.States;
using Hangfire.Storage.Monitoring;
using Stackscope.Hangfire;

/// <summary>
/// The time to read 200 processing jobs on 2 servers from a third process, on real PostgreSQL: two Hangfire servers, each
/// its own OS process (this program with <c>--server-role</c>) with 100 workers, <c>UseStackscope()</c> (async jobs
/// tracked) and Stackscope's server process polling every <see cref="ServerPollMs"/>, perform 100 async jobs each, all
/// suspended. This process, which runs no server, reads them: the baseline is what Hangfire's dashboard does to list
/// processing jobs, <c>ProcessingJobs(0, 200)</c>; against it, <c>ReadAllServersAsync</c>, every job with its stack.
/// Each read starts at a random point of the servers' poll cycle (the wait before it is not measured), as a person
/// opening the page would: reads back to back would each start just after a poll and wait a whole interval.
/// BenchmarkDotNet runs each case in a process of its own, so each case starts its own container and servers.
/// </summary>
[SimpleJob(launchCount: 1, warmupCount: 2, iterationCount: 40, invocationCount: 1)]
[MemoryDiagnoser]
public class ClusterReadBenchmarks
{
    private const int JobsPerServer = 100;
    private const int Jobs = 2 * JobsPerServer;
    private static readonly string[] s_servers = ["alpha", "beta"];
    private static readonly TimeSpan s_bound = TimeSpan.FromSeconds(10);

    private readonly List<ServerRoleProcess> _servers = new();
    private readonly Random _phase = new(2026);
    private IContainer? _postgres;
    private JobStorage _storage = null!;

    /// <summary>Each server's <c>PollInterval</c>: the default 1 s, and 100 ms to tell the wait for a poll from the work.</summary>
    [Params(1000, 100)]
    public int ServerPollMs { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        try
        {
            await StartAsync();
        }
        catch (Exception)
        {
            await Cleanup(); // BenchmarkDotNet does not clean up after a failed set-up: the servers and the container go here
            throw;
        }
    }

    private async Task StartAsync()
    {
        // Pools: 2 servers × 30 + 20 here, inside PostgreSQL's 100 connections (100 workers share a server's pool to fetch).
        (_postgres, string connection) = await Stackscope.Docker.ServiceContainers.StartAsync("postgres");
        _storage = PostgreSqlJobOverheadBenchmarks.Postgres(connection + ";Maximum Pool Size=20", "hangfire"); // the schema, before any server starts
        var client = new BackgroundJobClient(_storage);
        foreach (string queue in s_servers)
        {
            for (int i = 0; i < JobsPerServer; i++)
            {
                int index = i;
                client.Create(Job.FromExpression(() => ClusterReadJobs.HoldAsync(index)), new EnqueuedState(queue));
            }
        }
        _servers.AddRange(await Task.WhenAll(s_servers.Select(name => ServerRoleProcess.StartAsync(connection + ";Maximum Pool Size=30", name, ServerPollMs))));
        for (var clock = Stopwatch.StartNew(); _storage.GetMonitoringApi().ProcessingCount() < Jobs; await Task.Delay(200))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"{_storage.GetMonitoringApi().ProcessingCount()} of {Jobs} jobs processing after 60 s; servers:\n"
                    + string.Join("\n", _servers.Select(s => s.Output)));
            }
        }

        // A broken set-up must not report numbers: both answer, 200 jobs, each with its stack.
        ProcessingJobs();
        HangfireStacks stacks = await ReadAllServers();
        if (stacks.Jobs.Count(static j => j.Stack is not null) != Jobs)
        {
            throw new InvalidOperationException("not every job has its stack:\n" + stacks);
        }
        using var storageConnection = _storage.GetConnection();
        foreach (ServerStacks server in stacks.Servers)
        {
            // The answer's size as stored (the protocol's record, stackscope-hangfire/1), and the dump's time in the server.
            string json = storageConnection.GetAllEntriesFromHash("stackscope:answer:" + server.ServerId)?.GetValueOrDefault("json") ?? "";
            ServerRoleProcess process = _servers.Single(p => server.ServerId.StartsWith(p.Name + ":", StringComparison.Ordinal));
            Console.WriteLine($"// server {server.ServerId}: {server.Jobs!.Jobs.Count} jobs, answer {json.Length:N0} chars; {await process.AskAsync("measure")}");
        }
        // The servers poll on their own clocks: how far apart they captured one request's answers (their poll cycles' offset).
        Console.WriteLine($"// answers captured {Math.Abs((stacks.Servers[0].AnsweredAt!.Value - stacks.Servers[1].AnsweredAt!.Value).TotalMilliseconds):F0} ms apart");
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        foreach (ServerRoleProcess server in _servers)
        {
            server.Dispose();
        }
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync();
        }
    }

    [IterationSetup(Target = nameof(ReadAllServers))]
    public void RandomPhase() => Thread.Sleep(_phase.Next(ServerPollMs));

    [Benchmark(Baseline = true, Description = "ProcessingJobs(0, 200), Hangfire's dashboard")]
    public JobList<ProcessingJobDto> ProcessingJobs()
    {
        JobList<ProcessingJobDto> jobs = _storage.GetMonitoringApi().ProcessingJobs(0, Jobs);
        return jobs.Count == Jobs ? jobs : throw new InvalidOperationException($"ProcessingJobs returned {jobs.Count} of {Jobs} jobs");
    }

    [Benchmark(Description = "ReadAllServersAsync, 200 jobs with stacks")]
    public async Task<HangfireStacks> ReadAllServers()
    {
        HangfireStacks stacks = await StackscopeHangfire.ReadAllServersAsync(_storage, s_bound);
        return stacks.Servers.Count == s_servers.Length && stacks.Servers.All(static s => s.Answer == ServerAnswer.Answered) && stacks.Jobs.Count() == Jobs
            ? stacks
            : throw new InvalidOperationException($"expected {s_servers.Length} servers answering with {Jobs} jobs:\n{stacks}");
    }
}

/// <summary>The benchmark's jobs: an async chain three methods deep, suspended until the server process is told to exit.</summary>
public static class ClusterReadJobs
{
    private static readonly TaskCompletionSource s_exit = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public static void Release() => s_exit.TrySetResult();

    public static async Task HoldAsync(int index) => await ProcessAsync();

    private static async Task ProcessAsync() => await WaitForExitAsync();

    private static async Task WaitForExitAsync() => await s_exit.Task;
}

/// <summary>
/// A Hangfire server in its own OS process: this program started again with <c>--server-role</c>; prints "ready", answers
/// "measure" with a line, leaves on "exit" or when its standard input closes (so it never outlives the benchmark).
/// </summary>
internal static class ClusterServerRole
{
    public static int Run(string[] args)
    {
        string Arg(string name) => args.SkipWhile(a => a != "--" + name).Skip(1).FirstOrDefault() ?? throw new ArgumentException($"--{name} is required");
        string name = Arg("server");
        JobStorage storage = PostgreSqlJobOverheadBenchmarks.Postgres(Arg("connection"), "hangfire");
        GlobalConfiguration.Configuration.UseStorage(storage)
            .UseStackscope(o => { o.TrackAsyncJobs = true; o.PollInterval = TimeSpan.FromMilliseconds(int.Parse(Arg("poll-ms"))); });
        using (new BackgroundJobServer(new BackgroundJobServerOptions { ServerName = name, Queues = [name], WorkerCount = 100 }, storage, [StackscopeHangfire.ServerProcess()]))
        {
            Console.WriteLine("ready");
            while (Console.In.ReadLine() is { } line && line != "exit")
            {
                if (line == "measure")
                {
                    Console.WriteLine("measured " + MeasureDump());
                }
            }
            ClusterReadJobs.Release();
        }
        return 0;
    }

    /// <summary>What answering costs a server: the dump of its jobs (as its Stackscope process makes it), median of 9.</summary>
    private static string MeasureDump()
    {
        var times = new List<double>();
        JobsDump dump = StackscopeHangfire.CaptureLogicalStacks();
        for (int i = 0; i < 9; i++)
        {
            var clock = Stopwatch.StartNew();
            dump = StackscopeHangfire.CaptureLogicalStacks();
            times.Add(clock.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return $"its dump of {dump.Jobs.Count} jobs ({dump.Jobs.Count(static j => j.Stack is not null)} with stacks) takes {times[4]:F1} ms (median of 9, {times[0]:F1}–{times[^1]:F1})";
    }
}

/// <summary>A <see cref="ClusterServerRole"/> process, ended by its process id; every wait bounded.</summary>
internal sealed class ServerRoleProcess : IDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _output = new();

    private ServerRoleProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        _process.OutputDataReceived += (_, e) => OnLine(e.Data, "");
        _process.ErrorDataReceived += (_, e) => OnLine(e.Data, "stderr: ");
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public string Name { get; }

    public string Output
    {
        get
        {
            lock (_output)
            {
                return $"[{Name}, process {_process.Id}]\n" + string.Join("\n", _output);
            }
        }
    }

    public static async Task<ServerRoleProcess> StartAsync(string connection, string name, int pollMs)
    {
        // This assembly, run with the entry assembly's runtime config and dependencies: in BenchmarkDotNet's generated
        // child process (where benchmarks run) that is the generated program, beside which this assembly is copied.
        string entry = Assembly.GetEntryAssembly()!.Location;
        var start = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in new[] { "exec", "--runtimeconfig", Path.ChangeExtension(entry, ".runtimeconfig.json"), "--depsfile", Path.ChangeExtension(entry, ".deps.json"),
            typeof(ClusterServerRole).Assembly.Location, "--server-role", "--connection", connection, "--server", name, "--poll-ms", pollMs.ToString() })
        {
            start.ArgumentList.Add(arg);
        }
        var server = new ServerRoleProcess(name, Process.Start(start)!);
        await server.NextLineAsync("ready");
        return server;
    }

    /// <summary>Sends a command and returns the line that answers it.</summary>
    public async Task<string> AskAsync(string command)
    {
        _process.StandardInput.WriteLine(command);
        _process.StandardInput.Flush();
        return (await NextLineAsync(command + "d "))[(command.Length + 2)..];
    }

    private async Task<string> NextLineAsync(string prefix)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            while (true)
            {
                string line = await _lines.Reader.ReadAsync(timeout.Token);
                if (line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    return line;
                }
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            throw new InvalidOperationException($"no '{prefix}' line from the server process ({(_process.HasExited ? "it exited" : "60 s passed")}); it printed:\n{Output}");
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.StandardInput.WriteLine("exit");
                _process.StandardInput.Close();
                _process.WaitForExit(20_000);
            }
        }
        catch (IOException)
        {
            // its input already closed: it is leaving
        }
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true); // by its id
            _process.WaitForExit(10_000);
        }
        _process.Dispose();
    }

    private void OnLine(string? line, string source)
    {
        if (line is null)
        {
            if (source.Length == 0)
            {
                _lines.Writer.TryComplete();
            }
            return;
        }
        lock (_output)
        {
            _output.Add(source + line);
        }
        if (source.Length == 0)
        {
            _lines.Writer.TryWrite(line);
        }
    }
}
