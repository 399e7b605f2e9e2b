using Akka.Actor;
using Akka.Cluster;
using Akka.Configuration;
using Stackscope.Akka;

namespace Stackscope.Akka.Benchmarks;

/// <summary>
/// One node of <see cref="ClusterDumpBenchmarks"/>' cluster: an Akka.Cluster member on 127.0.0.1 only, with
/// Stackscope (<c>UseStackscope(o =&gt; o.TrackHandlers = true)</c>, the timed mailbox) and the benchmarks' actors
/// (<see cref="Populate"/>, also <see cref="DumpBenchmarks"/>' system's): 99 pools of 100 idle children and 100 actors
/// suspended in async handlers on a gate. Configured like the multi-process cluster tests' nodes
/// (tests/Stackscope.Akka.Node/NodeSettings.cs), copied here, since that file names the test node's logger and the
/// benchmark project does not reference the test projects: 127.0.0.1 only, joins retried every second; Akka's own
/// failure detector (heartbeat 1 s, acceptable pause 3 s) and log (warnings and errors on stdout).
/// </summary>
internal static class BenchNode
{
    public const string SystemName = "stackscope-bench";
    public const int Pools = 99;
    public const int PoolSize = 100;
    public const int BusyCount = 100;

    /// <summary>The bound of each wait on a node: started and populated, joined and Up, stopped.</summary>
    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(90);

    /// <summary>A node listening on 127.0.0.1:<paramref name="port"/> (0: a free port the system picks), warnings and errors on stderr.</summary>
    public static Config ConfigFor(int port) => ConfigurationFactory.ParseString($$"""
        akka {
          loglevel = WARNING
          stdout-loglevel = WARNING
          actor.provider = cluster
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
            downing-provider-class = "Akka.Cluster.SBR.SplitBrainResolverProvider, Akka.Cluster"
            split-brain-resolver {
              active-strategy = keep-majority
              stable-after = 10 s
            }
          }
        }
        """).WithFallback(StackscopeAkka.TimedMailboxConfig);

    /// <summary>Starts a node's actor system (listening, not joined yet) with Stackscope.</summary>
    public static ActorSystem Create(int port) =>
        ActorSystem.Create(SystemName, ConfigFor(port)).UseStackscope(static o => o.TrackHandlers = true);

    /// <summary>Starts the 9,900 idle and 100 busy actors (bounded); the busy ones stay suspended until <paramref name="release"/> completes.</summary>
    public static void Populate(ActorSystem system, Task<string> release)
    {
        var pools = new List<Task<int>>();
        for (int p = 0; p < Pools; p++)
        {
            pools.Add(system.ActorOf(Props.Create(() => new PoolActor(PoolSize)), $"pool-{p:00}").Ask<int>("count", Bound));
        }
        var entered = new List<Task>();
        for (int b = 0; b < BusyCount; b++)
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            entered.Add(started.Task);
            system.ActorOf(Props.Create(() => new BusyActor(started, release)), $"busy-{b:000}").Tell("go");
        }
        Task.WhenAll(pools.Cast<Task>().Concat(entered)).WaitAsync(Bound).GetAwaiter().GetResult();
    }

    /// <summary>Joins <paramref name="seed"/> (itself: starts the cluster) and waits, bounded, until this node is Up.</summary>
    public static async Task JoinAsync(ActorSystem system, Address seed)
    {
        Cluster cluster = Cluster.Get(system);
        var up = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        cluster.RegisterOnMemberUp(() => up.TrySetResult());
        cluster.JoinSeedNodes([seed]);
        await up.Task.WaitAsync(Bound);
    }

    private sealed class PoolActor : ReceiveActor
    {
        public PoolActor(int size)
        {
            for (int i = 0; i < size; i++)
            {
                Context.ActorOf(Props.Create(() => new IdleActor()), $"w-{i:000}");
            }
            Receive<string>(_ => Sender.Tell(size));
        }
    }

    private sealed class IdleActor : ReceiveActor
    {
        public IdleActor() => ReceiveAny(static _ => { });
    }

    private sealed class BusyActor : ReceiveActor
    {
        public BusyActor(TaskCompletionSource started, Task<string> release)
        {
            ReceiveAsync<string>(async _ =>
            {
                started.TrySetResult();
                await release;
            });
        }
    }
}

/// <summary>
/// This program as one other node of <see cref="ClusterDumpBenchmarks"/>' cluster, in its own OS process:
/// <c>--node-role --name &lt;name&gt; --seed &lt;address&gt;</c>. Listens on a free port of 127.0.0.1, starts its
/// actors, joins the seed, prints "ready &lt;its address&gt;" once Up. "stop" on stdin, or its end (the benchmark's
/// process gone), releases its busy actors and leaves the cluster, bounded: the process is gone 30 s later whatever Akka does.
/// </summary>
internal static class NodeRole
{
    public static async Task<int> RunAsync(string[] args)
    {
        string Arg(string name) => args.SkipWhile(a => a != "--" + name).Skip(1).FirstOrDefault() ?? throw new ArgumentException($"--{name} is required");
        string name = Arg("name");
        Address seed = Address.Parse(Arg("seed"));
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        ActorSystem system = BenchNode.Create(0);
        BenchNode.Populate(system, release.Task);
        await BenchNode.JoinAsync(system, seed);
        Console.Out.WriteLine($"ready {Cluster.Get(system).SelfAddress} ({name})");

        while (await Console.In.ReadLineAsync() is { } line && line != "stop")
        {
            Console.Error.WriteLine("unknown command: " + line);
        }
        using var exitGuard = new Timer(static _ => Environment.Exit(3), null, TimeSpan.FromSeconds(30), Timeout.InfiniteTimeSpan);
        release.TrySetResult("done");
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClusterLeavingReason.Instance).WaitAsync(TimeSpan.FromSeconds(20));
        Console.Out.WriteLine("stopped");
        return 0;
    }
}
