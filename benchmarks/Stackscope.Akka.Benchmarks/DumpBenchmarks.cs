using Akka.Actor;
using BenchmarkDotNet.Attributes;
using Stackscope;
using Stackscope.Akka;

/// <summary>
/// DumpLogicalStacks over 10,000 actors of which 100 are busy in async handlers (suspended on a gate, found with
/// TaskTracking), against the least any dump must do: visit every actor through Akka's public API and read its
/// path. Same process, same system, same run.
/// </summary>
[MemoryDiagnoser]
public class DumpBenchmarks
{
    private const int Pools = 99;
    private const int PoolSize = 100;
    private const int BusyCount = 100;

    private ActorSystem _system = null!;
    private TaskCompletionSource<string> _release = null!;

    [GlobalSetup]
    public void Setup()
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        _system = ActorSystem.Create("bench", StackscopeAkka.TimedMailboxConfig).UseStackscope();
        _release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        for (int p = 0; p < Pools; p++)
        {
            _system.ActorOf(Props.Create(() => new PoolActor(PoolSize)), $"pool-{p:00}").Ask<int>("count").GetAwaiter().GetResult();
        }
        var entered = new List<Task>();
        for (int b = 0; b < BusyCount; b++)
        {
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            entered.Add(started.Task);
            _system.ActorOf(Props.Create(() => new BusyActor(started, _release.Task)), $"busy-{b:000}").Tell("go");
        }
        Task.WhenAll(entered).GetAwaiter().GetResult();
        ActorSystemDump check = _system.CaptureLogicalStacks();
        if (check.Root.SubtreeBusyCount != BusyCount || check.BusyActors.Count(static a => a.Stack is not null) != BusyCount || check.Root.SubtreeCount < Pools * PoolSize + BusyCount)
        {
            throw new InvalidOperationException($"setup: {check.Root.SubtreeBusyCount} busy of {check.Root.SubtreeCount}");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _release.TrySetResult("done");
        _system.Terminate().Wait(TimeSpan.FromSeconds(10));
        TaskTracking.Disable();
    }

    [Benchmark(Baseline = true, Description = "visit every actor (public API, paths)")]
    public int VisitEveryActor()
    {
        var root = (ActorRefWithCell)((ExtendedActorSystem)_system).Provider.RootGuardian;
        return Visit(root);

        static int Visit(ActorRefWithCell actor)
        {
            int sum = actor.Path.ToString().Length;
            foreach (IActorRef child in actor.Children)
            {
                if (child is ActorRefWithCell withCell)
                {
                    sum += Visit(withCell);
                }
            }
            return sum;
        }
    }

    [Benchmark(Description = "CaptureLogicalStacks (model)")]
    public ActorSystemDump Capture() => _system.CaptureLogicalStacks();

    [Benchmark(Description = "DumpLogicalStacks (text)")]
    public string Dump() => _system.DumpLogicalStacks();

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
