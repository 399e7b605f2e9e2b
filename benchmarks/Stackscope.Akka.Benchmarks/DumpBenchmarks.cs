using Akka.Actor;
using BenchmarkDotNet.Attributes;
using Stackscope;
using Stackscope.Akka;
using Stackscope.Akka.Benchmarks;

/// <summary>
/// DumpLogicalStacks over 10,000 actors of which 100 are busy in async handlers (suspended on a gate, found with
/// TaskTracking), against the least any dump must do: visit every actor through Akka's public API and read its
/// path. Same process, same system, same run. The actors are <see cref="BenchNode"/>'s (each node of
/// <see cref="ClusterDumpBenchmarks"/> has the same), in an actor system without Akka.Remote.
/// </summary>
[MemoryDiagnoser]
public class DumpBenchmarks
{
    private ActorSystem _system = null!;
    private TaskCompletionSource<string> _release = null!;

    [GlobalSetup]
    public void Setup()
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        _system = ActorSystem.Create("bench", StackscopeAkka.TimedMailboxConfig).UseStackscope();
        _release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        BenchNode.Populate(_system, _release.Task);
        ActorSystemDump check = _system.CaptureLogicalStacks();
        if (check.Root.SubtreeBusyCount != BenchNode.BusyCount || check.BusyActors.Count(static a => a.Stack is not null) != BenchNode.BusyCount
            || check.Root.SubtreeCount < BenchNode.Pools * BenchNode.PoolSize + BenchNode.BusyCount)
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
}
