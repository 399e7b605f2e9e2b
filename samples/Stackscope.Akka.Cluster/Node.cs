using System.Text;
using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Akka.Dispatch;
using Akka.Event;
using Stackscope.Akka;
using Stackscope.Samples;

namespace AkkaShop;

/// <summary>
/// One node of the shop's cluster, its own process: <c>--role node --name front|stock|payments --front &lt;address&gt;
/// --stock &lt;address&gt; --payments &lt;address&gt;</c> (each <c>akka.tcp://shop@127.0.0.1:&lt;port&gt;</c>; its own is the one
/// under its name, front is the seed). It prints "listening &lt;name&gt;" once its system listens, starts its actors, joins
/// the cluster and prints "ready &lt;name&gt; &lt;address&gt;" once it sees all three nodes Up; its actors print "suspended ..." (<see cref="ShopActor"/>). Commands on stdin:
/// <c>order</c> and <c>settle</c> start the scenario, <c>probe &lt;id&gt;</c> reads the cluster and prints
/// "probe &lt;id&gt; nodes=.. answered=.. busy=.. deadlocks=.." (busy: actors under /user) (or "probe &lt;id&gt; failed ..."), <c>dump &lt;id&gt;</c> prints the
/// cluster-wide text dump, each line as "dump &lt;id&gt;| &lt;line&gt;", then "dumped &lt;id&gt;". The end of stdin (the parent gone)
/// ends the node.
/// </summary>
internal static class Node
{
    /// <summary>How long one cluster-wide read may take.</summary>
    private static readonly TimeSpan ReadBound = TimeSpan.FromSeconds(30);

    private static readonly ActorDumpOptions Options = new() { WholeCluster = true, OnlyBusy = true };

    public static async Task<int> RunAsync(string[] args)
    {
        Console.OutputEncoding = new UTF8Encoding(false); // the dump's tree characters, read by the parent as UTF-8
        string Arg(string name) => ChildProcesses.Arg(args, name);
        string name = Arg("name");
        Address self = Address.Parse(Arg(name));
        ActorSystem system = ActorSystem.Create(NodeSettings.SystemName,
            NodeSettings.For(self.Port!.Value).WithFallback(StackscopeAkka.TimedMailboxConfig));
        system.UseStackscope(o => o.TrackHandlers = true);
        Console.Out.WriteLine($"listening {name}"); // its remoting is bound: the other nodes can join it now

        // Each node's actors exist before it joins: an Ask from a node that sees it Up finds them.
        string front = Arg("front"), stock = Arg("stock") + "/user/stock", payments = Arg("payments") + "/user/payments";
        string audit = front + "/user/audit", ledgerPath = Arg("payments") + "/user/ledger";
        IActorRef? orders = null, ledger = null;
        switch (name)
        {
            case "front":
                orders = system.ActorOf(Props.Create(() => new Orders(stock)), "orders");
                system.ActorOf(Props.Create(() => new Audit(ledgerPath)), "audit");
                break;
            case "stock":
                system.ActorOf(Props.Create(() => new Stock(payments)), "stock");
                break;
            case "payments":
                system.ActorOf(Props.Create(() => new Payments()), "payments");
                ledger = system.ActorOf(Props.Create(() => new Ledger(audit)), "ledger");
                break;
            default:
                throw new ArgumentException($"no node '{name}' (front, stock, payments)");
        }

        Cluster cluster = Cluster.Get(system);
        cluster.JoinSeedNodes([Address.Parse(front)]);
        await ChildProcesses.WaitUntilAsync($"{name} did not see 3 members Up", TimeSpan.FromSeconds(60), () =>
        {
            int up = cluster.State.Members.Count(static m => m.Status == MemberStatus.Up);
            return Task.FromResult(up >= 3 ? null : $"{up} Up");
        });
        Console.Out.WriteLine($"ready {name} {cluster.SelfAddress}");

        while (await Console.In.ReadLineAsync() is { } line)
        {
            switch (line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                case ["order"] when orders is not null:
                    orders.Tell(new PlaceOrder(1001, "sku-4711", 3));
                    break;
                case ["settle"] when ledger is not null:
                    ledger.Tell(new Settle(77));
                    break;
                case ["probe", var id]:
                    Console.Out.WriteLine($"probe {id} {await ProbeAsync(system)}");
                    break;
                case ["dump", var id]:
                    string text = await DumpAsync(system);
                    Console.Out.Write(string.Concat(text.Split('\n').Select(l => $"dump {id}| {l.TrimEnd('\r')}\n")) + $"dumped {id}\n");
                    break;
                default:
                    Console.Error.WriteLine($"{name}: unknown command: {line}");
                    break;
            }
        }
        // The parent is done (or gone): stop at once, bounded, without logging the other nodes going away as they stop
        // too; the parent ends this process by its id in any case.
        StderrLogger.Quiet = true;
        await system.Terminate().WaitAsync(TimeSpan.FromSeconds(10));
        return 0;
    }

    /// <summary>The cluster-wide model, read from this node, in a few numbers: what the parent waits on.</summary>
    private static async Task<string> ProbeAsync(ActorSystem system)
    {
        try
        {
            using var bound = new CancellationTokenSource(ReadBound);
            ActorSystemDump dump = await system.CaptureLogicalStacksAsync(Options, bound.Token);
            return $"nodes={dump.Nodes.Count} answered={dump.Nodes.Count(static n => n.Answered)} " +
                   $"busy={dump.Nodes.Sum(static n => n.BusyActors.Count(static a => a.Path.Contains("/user/", StringComparison.Ordinal)))} deadlocks={dump.Deadlocks.Count}";
        }
        catch (Exception e)
        {
            return $"failed {e.GetType().Name}: {e.Message.ReplaceLineEndings(" ")}";
        }
    }

    /// <summary>The cluster-wide text dump, read from this node (<c>WholeCluster</c>, busy actors only).</summary>
    private static async Task<string> DumpAsync(ActorSystem system)
    {
        try
        {
            return await system.DumpLogicalStacksAsync(Options).WaitAsync(ReadBound);
        }
        catch (Exception e)
        {
            return $"dump failed: {e.GetType().Name}: {e.Message}";
        }
    }
}

/// <summary>
/// The cluster's configuration: Akka.Cluster over Akka.Remote on 127.0.0.1 only, Akka's log on stderr (stdout carries the
/// node's signals), nodes joining within a second or two of the seed being up, and a node that dies downed (split-brain
/// resolver, keep-majority) within about ten seconds. From the Akka cluster tests' node (tests/Stackscope.Akka.Node).
/// </summary>
internal static class NodeSettings
{
    /// <summary>The actor system's name on every node (part of every address: all nodes of a cluster share it).</summary>
    public const string SystemName = "shop";

    public static Config For(int port) => ConfigurationFactory.ParseString($$"""
        akka {
          loglevel = WARNING
          stdout-loglevel = OFF
          loggers = ["AkkaShop.StderrLogger, Stackscope.Akka.Cluster"]
          actor.provider = cluster
          # Nodes start together: one that finds its seed not listening yet tries again a second later (not 5 s).
          remote.retry-gate-closed-for = 1 s
          remote.dot-netty.tcp {
            hostname = 127.0.0.1
            public-hostname = 127.0.0.1
            port = {{port}}
          }
          cluster {
            log-info = off
            seed-node-timeout = 1 s
            retry-unsuccessful-join-after = 1 s
            failure-detector {
              heartbeat-interval = 1 s
              acceptable-heartbeat-pause = 3 s
              expected-response-after = 1 s
            }
            downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
            split-brain-resolver {
              active-strategy = keep-majority
              stable-after = 3 s
            }
          }
        }
        """);
}

/// <summary>Akka's log, warnings and errors, one line each on stderr: stdout carries the node's signals to the parent.</summary>
public sealed class StderrLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    private static volatile bool s_quiet;

    /// <summary>Set as the node stops: nothing more is logged.</summary>
    public static bool Quiet
    {
        get => s_quiet;
        set => s_quiet = value;
    }

    public StderrLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(e =>
        {
            if (Quiet)
            {
                return;
            }
            string line = $"{e.LogLevel()}: [{e.LogSource}] {e.Message}";
            if (e is Error { Cause: { } cause })
            {
                line += $" ({cause.GetType().Name}: {cause.Message.Split('\n')[0].Trim()})";
            }
            Console.Error.WriteLine(line.ReplaceLineEndings(" "));
        });
    }
}
