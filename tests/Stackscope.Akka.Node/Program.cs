using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Stackscope.Akka;
using Stackscope.Akka.Node;
using Stackscope.Akka.Tests;
using Stackscope.Tests;

// One Akka.NET actor system in its own process, a member of an Akka.Cluster on 127.0.0.1, for the multi-process tests:
//   --name <node name> [--port <port>] [--seed <address>]... [--no-stackscope]
// The seeds are the addresses of members to join (akka.tcp://stackscope@127.0.0.1:<port>); a node whose own address is the
// first seed, or that has none, starts the cluster. Port 0 (the default) lets the system pick a free one.
// Prints "ready <address>" once this node is Up, the membership as it sees it (ClusterWatch: "up <address>", "removed
// <address>", "members <n>", ...), and "entered <key>" when an actor is suspended at a gate (Actors.cs). Takes on stdin:
//   spawn <name> <relay|stuck>    starts /user/<name>; prints "spawned <name> <full path>" (or "failed spawn <name> ...")
//   ask <id> <path> [<path>...]   from outside any actor, Asks the first path a Call of the rest; prints "answer <id> <text>"
//                                 when it answers, "failed <id> <exception>" if the Ask fails
//   ask-or-dump <id> <ms> <path> [<path>...]
//                                 like ask, through the README's AskOrDump helper with a timeout of <ms>: prints "answer <id> <text>",
//                                 or its failure's text, each line as "askdump <id>: <line>", then "askdumped <id>"
//   dump <id> [async] [cluster] [busy] [bound <ms>]
//                                 prints this system's Stackscope dump, each line as "dump <id>: <line>", then "dumped <id> <ms>"
//                                 (how long it took): DumpLogicalStacks, or with async DumpLogicalStacksAsync (remote Asks
//                                 followed), cluster: WholeCluster, busy: OnlyBusy, bound: RemoteBound
//   release <key>, abandon <key>, release-all    the gates (tests/Shared/Gate.cs)
//   stop                          leaves the cluster gracefully (CoordinatedShutdown), prints "stopped", exits 0
// The end of stdin (the test process gone) stops it too. Downed by the others (it was frozen or cut off), the system
// terminates: the process prints "terminated" and exits 4. No node outlives its test run.
string? Option(string name) => args.SkipWhile(a => a != "--" + name).Skip(1).FirstOrDefault();

string name = Option("name") ?? throw new ArgumentException("--name is required");
int port = int.Parse(Option("port") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
Address[] seeds = args.Select((a, i) => (a, i)).Where(p => p.a == "--seed" && p.i + 1 < args.Length).Select(p => Address.Parse(args[p.i + 1])).ToArray();
bool stackscope = !args.Contains("--no-stackscope");

Config config = NodeSettings.For(port);
if (stackscope)
{
    config = config.WithFallback(StackscopeAkka.TimedMailboxConfig);
}
ActorSystem system = ActorSystem.Create(NodeSettings.SystemName, config);
if (stackscope)
{
    system.UseStackscope(o => o.TrackHandlers = true);
}
var stopping = false;
_ = system.WhenTerminated.ContinueWith(_ =>
{
    if (!Volatile.Read(ref stopping))
    {
        Console.Out.WriteLine("terminated");
        Environment.Exit(4);
    }
}, TaskScheduler.Default);

Cluster cluster = Cluster.Get(system);
var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
cluster.RegisterOnMemberUp(() => up.TrySetResult());
system.ActorOf(Props.Create(() => new ClusterWatch()), "cluster-watch");
Address self = cluster.SelfAddress;
cluster.JoinSeedNodes(seeds.Length == 0 ? [self] : seeds);
await up.Task.WaitAsync(TimeSpan.FromSeconds(90));
Console.Out.WriteLine("ready " + self);

while (Console.In.ReadLine() is { } line)
{
    string[] words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
    if (line == "stop")
    {
        break;
    }
    if (Gate.Command(line))
    {
        continue;
    }
    switch (words)
    {
        case ["spawn", var actor, var kind]:
            Spawn(actor, kind);
            break;
        case ["ask", var id, var first, .. var rest]:
            _ = AskAsync(id, first, rest);
            break;
        case ["ask-or-dump", var id, var ms, var first, .. var rest]:
            _ = AskOrDumpAsync(id, int.Parse(ms, System.Globalization.CultureInfo.InvariantCulture), first, rest);
            break;
        case ["dump", var id, .. var flags]:
            _ = DumpAsync(id, flags);
            break;
        default:
            Console.Error.WriteLine("unknown command: " + line);
            break;
    }
}

// "stop" or the end of stdin: leave the cluster gracefully, bounded; released gates let handlers end.
// Whatever Akka does, the process is gone 30 s later.
Volatile.Write(ref stopping, true);
var exitGuard = new Timer(static _ => Environment.Exit(3), null, TimeSpan.FromSeconds(30), Timeout.InfiniteTimeSpan);
Gate.ReleaseAll();
await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance).WaitAsync(TimeSpan.FromSeconds(20));
Console.Out.WriteLine("stopped");
GC.KeepAlive(exitGuard);
return 0;

async Task AskOrDumpAsync(string id, int ms, string first, string[] rest)
{
    try
    {
        string answer = await system.AskOrDump<string>(Relay.Resolve(system, first), new Call(rest), TimeSpan.FromMilliseconds(ms));
        Console.Out.WriteLine($"answer {id} {answer}");
    }
    catch (Exception e)
    {
        Console.Out.Write(string.Concat(e.Message.Split('\n').Select(l => $"askdump {id}: {l.TrimEnd('\r')}\n")) + $"askdumped {id}\n");
    }
}

// Off the stdin loop: an asynchronous dump waits for other nodes, and the test may release gates meanwhile.
async Task DumpAsync(string id, string[] flags)
{
    var clock = System.Diagnostics.Stopwatch.StartNew();
    string dump;
    try
    {
        int bound = flags.SkipWhile(f => f != "bound").Skip(1).Select(f => int.Parse(f, System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault(5000);
        var options = new ActorDumpOptions { WholeCluster = flags.Contains("cluster"), OnlyBusy = flags.Contains("busy"), RemoteBound = TimeSpan.FromMilliseconds(bound) };
        dump = flags.Contains("async") ? await system.DumpLogicalStacksAsync(options) : system.DumpLogicalStacks(options);
    }
    catch (Exception e)
    {
        dump = "the dump threw: " + e;
    }
    Console.Out.Write(string.Concat(dump.Split('\n').Select(l => $"dump {id}: {l.TrimEnd('\r')}\n")) + $"dumped {id} {clock.ElapsedMilliseconds}\n");
}

void Spawn(string actor, string kind)
{
    Props? props = kind switch
    {
        "relay" => Props.Create(() => new Relay()),
        "stuck" => Props.Create(() => new Stuck()),
        _ => null,
    };
    try
    {
        IActorRef spawned = system.ActorOf(props ?? throw new ArgumentException($"no actor kind '{kind}' (relay, stuck)"), actor);
        Console.Out.WriteLine($"spawned {actor} {spawned.Path.ToStringWithAddress(self)}");
    }
    catch (Exception e) when (e is ArgumentException or InvalidActorNameException)
    {
        Console.Out.WriteLine($"failed spawn {actor} {e.GetType().Name}: {e.Message.Split('\n')[0]}");
    }
}

async Task AskAsync(string id, string first, string[] rest)
{
    try
    {
        string answer = await Relay.Resolve(system, first).Ask<string>(new Call(rest));
        Console.Out.WriteLine($"answer {id} {answer}");
    }
    catch (Exception e)
    {
        Console.Out.WriteLine($"failed {id} {e.GetType().Name}: {e.Message.Split('\n')[0]}");
    }
}
