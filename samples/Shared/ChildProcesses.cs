using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace Stackscope.Samples;

/// <summary>
/// A cluster sample's child processes: this program started again (through <c>dotnet</c>, its own assembly) with a
/// role, each ended by its process id with its own children. Linked into each cluster sample.
/// </summary>
internal sealed class ChildProcesses : IDisposable
{
    private readonly List<(string Name, Process Process)> _children = [];

    /// <summary>Starts this program again with <paramref name="args"/>; its output goes to this console.</summary>
    /// <param name="name">What the child is, for messages.</param>
    /// <param name="args">Its arguments (<c>--role ...</c>).</param>
    public void Start(string name, params string[] args) => Run(name, new ProcessStartInfo("dotnet") { UseShellExecute = false }, args);

    /// <summary>
    /// Starts this program again with <paramref name="args"/>, its stdin and stdout piped to this process (commands in,
    /// lines out: the child's readiness signals and answers); its stderr goes to this console.
    /// </summary>
    /// <param name="name">What the child is, for messages.</param>
    /// <param name="args">Its arguments (<c>--role ...</c>).</param>
    public Process StartPiped(string name, params string[] args) => Run(name, new ProcessStartInfo("dotnet")
    {
        UseShellExecute = false,
        RedirectStandardInput = true,
        RedirectStandardOutput = true,
        StandardInputEncoding = new System.Text.UTF8Encoding(false),
        StandardOutputEncoding = System.Text.Encoding.UTF8,
    }, args);

    private Process Run(string name, ProcessStartInfo start, string[] args)
    {
        start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        Process process = Process.Start(start)!;
        _children.Add((name, process));
        return process;
    }

    /// <summary>Throws when a child has exited: what waits for the children says so at once, not when its bound runs out.</summary>
    public void ThrowIfAnyExited()
    {
        foreach ((string name, Process process) in _children)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the {name} process exited with code {process.ExitCode}");
            }
        }
    }

    /// <summary>Ends every child still running, the last started first, by its process id, and waits for each (bounded).</summary>
    public void Dispose()
    {
        for (int i = _children.Count - 1; i >= 0; i--)
        {
            Process child = _children[i].Process;
            if (!child.HasExited)
            {
                child.Kill(entireProcessTree: true); // by its id
                child.WaitForExit(10_000);
            }
            child.Dispose();
        }
        _children.Clear();
    }

    /// <summary>The value after <c>--name</c> in a child's arguments.</summary>
    public static string Arg(string[] args, string name) => args.SkipWhile(a => a != "--" + name).Skip(1).First();

    /// <summary>A free TCP port on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>
    /// Asks <paramref name="missing"/> every 200 ms until it answers null (nothing missing), for at most <paramref name="bound"/>;
    /// then throws a <see cref="TimeoutException"/> naming <paramref name="what"/> and the last thing still missing.
    /// </summary>
    public static async Task WaitUntilAsync(string what, TimeSpan bound, Func<Task<string?>> missing)
    {
        string? last = null;
        for (var clock = Stopwatch.StartNew(); clock.Elapsed < bound; await Task.Delay(200))
        {
            if ((last = await missing()) is null)
            {
                return;
            }
        }
        throw new TimeoutException($"{what} within {bound.TotalSeconds:0} s{(last is null ? "" : ": " + last)}");
    }

    /// <summary>Writes why the check failed to stderr; returns the exit code.</summary>
    public static int Fail(string reason)
    {
        Console.Error.WriteLine("check failed: " + reason);
        return 1;
    }
}
