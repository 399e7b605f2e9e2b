using System.Diagnostics;
using System.Text.RegularExpressions;
using AkkaShop;
using Stackscope.Samples;

// One command, a whole Akka.Cluster on this machine: three nodes, front, stock and payments, each its own process (this
// program, started again with --role node), joined with Akka.Remote and Akka.Cluster on 127.0.0.1 only. This process starts
// them, waits for each node to see the three Up and for every actor of the scenario to print that it is suspended, then has
// the front node read the whole cluster: an order whose Asks cross the three nodes and never finish (/user/orders on front →
// /user/stock on stock → /user/payments on payments, awaiting a provider that never answers) and a settlement that
// deadlocks across two nodes (/user/ledger on payments ↔ /user/audit on front). `--check` prints the front node's
// cluster-wide dump and exits 0 (non-zero with the reason); without it everything keeps running, the dump printed again on
// Enter, until Ctrl+C.
return args.Contains("--role") ? await Node.RunAsync(args) : await Orchestrator.RunAsync(check: args.Contains("--check"));

internal static class Orchestrator
{
    /// <summary>How long each wait may take: nodes starting and joining on a busy machine, the Asks reaching their awaits.</summary>
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    /// <summary>The actors the scenario suspends, by node; each prints "suspended &lt;path&gt; &lt;Class.Method&gt; &lt;line&gt;".</summary>
    private static readonly (string Node, string Actor)[] Suspensions =
    [
        ("front", "/user/orders"), ("stock", "/user/stock"), ("payments", "/user/payments"),
        ("payments", "/user/ledger"), ("front", "/user/audit"),
    ];

    public static async Task<int> RunAsync(bool check)
    {
        using var stop = new CancellationTokenSource(); // Ctrl+C
        Console.CancelKeyPress += (_, e) =>
        {
            e.Cancel = true; // this process ends its children, then itself
            stop.Cancel();
        };
        var clock = Stopwatch.StartNew();
        var children = new ChildProcesses();
        var nodes = new Dictionary<string, NodeProcess>();
        try
        {
            string[] names = ["front", "stock", "payments"];
            string[] addressArgs = names.SelectMany(static n => new[] { "--" + n, $"akka.tcp://shop@127.0.0.1:{ChildProcesses.FreePort()}" }).ToArray();
            Console.Error.WriteLine($"starting 3 nodes on 127.0.0.1: {string.Join(", ", addressArgs.Where(static (_, i) => i % 2 == 1))}");
            foreach (string name in names)
            {
                nodes[name] = new NodeProcess(name, children.StartPiped(name, ["--role", "node", "--name", name, .. addressArgs]));
                if (name == "front") // the seed listens before the others try to join it (no refused connections logged)
                {
                    await nodes[name].WaitForAsync(static l => l.StartsWith("listening ", StringComparison.Ordinal), "listened", Bound, stop.Token);
                }
            }
            foreach (NodeProcess node in nodes.Values)
            {
                await node.WaitForAsync(static l => l.StartsWith("ready ", StringComparison.Ordinal), "saw 3 members Up", Bound, stop.Token);
            }
            Console.Error.WriteLine($"cluster Up after {clock.Elapsed.TotalSeconds:F1} s; placing order 1001 and settling batch 77");

            nodes["front"].Send("order");
            nodes["payments"].Send("settle");
            var awaits = new Dictionary<string, (string Method, string Line)>();
            foreach ((string node, string actor) in Suspensions)
            {
                string[] signal = (await nodes[node].WaitForAsync(l => l.StartsWith($"suspended {actor} ", StringComparison.Ordinal),
                    $"suspended {actor}", Bound, stop.Token)).Split(' ');
                awaits[actor] = (signal[2], signal[3]);
            }

            // Every actor has printed that it awaits; the cycle's second Ask may still be on its way to the ledger's
            // mailbox. The front node reads the cluster's model until each node answered and the deadlock shows (bounded).
            NodeProcess reader = nodes["front"];
            int probes = 0;
            await ChildProcesses.WaitUntilAsync("the cluster-wide read did not show 3 answering nodes, 5 busy actors and the deadlock", Bound, async () =>
            {
                children.ThrowIfAnyExited();
                string id = $"p{++probes}";
                reader.Send($"probe {id}");
                string probe = (await reader.WaitForAsync(l => l.StartsWith($"probe {id} ", StringComparison.Ordinal), "answered a probe", Bound, stop.Token))[$"probe {id} ".Length..];
                return probe == "nodes=3 answered=3 busy=5 deadlocks=1" ? null : probe;
            });
            Console.Error.WriteLine($"scenario in place after {clock.Elapsed.TotalSeconds:F1} s ({probes} probe(s)); the front node's cluster-wide dump:");

            string text = await reader.DumpAsync("d1", Bound, stop.Token);
            Console.WriteLine(text);
            if (check)
            {
                return Verify(text, nodes.Values.Select(static n => n.Address!).ToArray(), awaits) is { } reason
                    ? ChildProcesses.Fail(reason)
                    : 0;
            }
            Console.WriteLine("Press Enter to print the dump again, Ctrl+C to stop everything.");
            for (int dumps = 2; ; dumps++)
            {
                Task<string?> enter = Task.Run(Console.ReadLine);
                await Task.WhenAny(enter, Task.Delay(Timeout.Infinite, stop.Token));
                if (stop.IsCancellationRequested)
                {
                    return 0;
                }
                if (await enter is null) // no console input (stdin closed): only Ctrl+C ends it
                {
                    await Task.Delay(Timeout.Infinite, stop.Token).ContinueWith(static _ => { }, TaskScheduler.Default);
                    return 0;
                }
                children.ThrowIfAnyExited();
                Console.WriteLine(await reader.DumpAsync($"d{dumps}", Bound, stop.Token));
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            Console.Error.WriteLine("stopped (Ctrl+C)");
            return 130;
        }
        catch (Exception e)
        {
            return ChildProcesses.Fail($"{e.GetType().Name}: {e.Message}");
        }
        finally
        {
            // Each node stops when its stdin ends (bounded); any still running is ended by its process id.
            foreach (NodeProcess node in nodes.Values)
            {
                node.EndInput();
            }
            foreach (NodeProcess node in nodes.Values)
            {
                await node.WaitForExitAsync(TimeSpan.FromSeconds(10));
            }
            children.Dispose();
            Console.Error.WriteLine($"done in {clock.Elapsed.TotalSeconds:F1} s");
        }
    }

    /// <summary>
    /// Why the dump text fails the check (null when it passes): a line for every node, none "NO ANSWER"; the chain's
    /// three handlers by method name, each at the await line it printed; a DEADLOCK line naming the ledger and the audit.
    /// </summary>
    private static string? Verify(string text, string[] addresses, Dictionary<string, (string Method, string Line)> awaits)
    {
        string[] lines = text.Split('\n');
        foreach (string address in addresses)
        {
            // "Node <address> (<membership>): <n> busy of <m> actors", or "...: NO ANSWER: <why>"
            string? node = lines.FirstOrDefault(l => l.StartsWith($"Node {address} (", StringComparison.Ordinal));
            if (node is null || node.Contains("NO ANSWER", StringComparison.Ordinal))
            {
                return node is null ? $"the dump has no line for the node {address}" : $"a node did not answer: {node.Trim()}";
            }
        }
        foreach (string actor in new[] { "/user/orders", "/user/stock", "/user/payments" })
        {
            (string method, string line) = awaits[actor];
            if (!lines.Any(l => l.Contains(method + "(", StringComparison.Ordinal) && Regex.IsMatch(l, $@"Shop\.cs:line {line}\b")))
            {
                return $"the dump has no frame of {method} (the handler of {actor}) at its await, Shop.cs:line {line}";
            }
        }
        return lines.Any(static l => l.Contains("DEADLOCK", StringComparison.Ordinal) && l.Contains("/user/ledger", StringComparison.Ordinal) && l.Contains("/user/audit", StringComparison.Ordinal))
            ? null
            : "no DEADLOCK line names /user/ledger and /user/audit";
    }
}

/// <summary>
/// A node's process as its parent sees it: the lines it printed on stdout (kept, so a signal printed before it was waited
/// for is not lost), commands sent on its stdin.
/// </summary>
internal sealed class NodeProcess
{
    private readonly Process _process;
    private readonly List<string> _lines = [];
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _closed;

    public NodeProcess(string name, Process process)
    {
        Name = name;
        _process = process;
        _process.OutputDataReceived += (_, e) => Received(e.Data);
        _process.BeginOutputReadLine();
    }

    public string Name { get; }

    /// <summary>Its address, from its "ready" line.</summary>
    public string? Address { get; private set; }

    public void Send(string command) => _process.StandardInput.WriteLine(command); // AutoFlush: written at once

    /// <summary>Closes its stdin: the node stops.</summary>
    public void EndInput()
    {
        try
        {
            _process.StandardInput.Close();
        }
        catch (IOException) // it has exited already
        {
        }
    }

    /// <summary>Waits for the process to exit, at most <paramref name="bound"/>.</summary>
    public async Task WaitForExitAsync(TimeSpan bound)
    {
        using var timeout = new CancellationTokenSource(bound);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException) // still running: ended by its id
        {
        }
    }

    /// <summary>
    /// The first line it printed that <paramref name="match"/>es, waiting for it (bounded); throws when the process ends or
    /// the bound runs out, naming <paramref name="what"/>.
    /// </summary>
    public async Task<string> WaitForAsync(Func<string, bool> match, string what, TimeSpan bound, CancellationToken cancellation)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            Task next;
            lock (_lines)
            {
                if (_lines.FirstOrDefault(match) is { } line)
                {
                    return line;
                }
                if (_closed)
                {
                    throw new InvalidOperationException($"the {Name} node's process ended before it {what}");
                }
                next = _next.Task;
            }
            TimeSpan left = bound - clock.Elapsed;
            if (left <= TimeSpan.Zero || await Task.WhenAny(next, Task.Delay(left, cancellation)) != next)
            {
                cancellation.ThrowIfCancellationRequested();
                throw new TimeoutException($"the {Name} node had not {what} within {bound.TotalSeconds:0} s");
            }
        }
    }

    /// <summary>Has the node print its cluster-wide dump; returns the text (bounded).</summary>
    public async Task<string> DumpAsync(string id, TimeSpan bound, CancellationToken cancellation)
    {
        Send($"dump {id}");
        await WaitForAsync(l => l == $"dumped {id}", "printed its dump", bound, cancellation);
        string prefix = $"dump {id}| ";
        lock (_lines)
        {
            return string.Join('\n', _lines.Where(l => l.StartsWith(prefix, StringComparison.Ordinal)).Select(l => l[prefix.Length..])).TrimEnd();
        }
    }

    private void Received(string? line)
    {
        TaskCompletionSource previous;
        lock (_lines)
        {
            if (line is null)
            {
                _closed = true;
            }
            else
            {
                _lines.Add(line);
                if (line.StartsWith("ready ", StringComparison.Ordinal))
                {
                    Address = line.Split(' ')[2];
                }
            }
            previous = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        previous.TrySetResult();
    }
}
