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
public class DumpBenchmarks : BusySystem
{
    [Benchmark(Baseline = true, Description = "visit every actor (public API, paths)")]
    public int VisitEveryActor()
    {
        var root = (ActorRefWithCell)((ExtendedActorSystem)Actors).Provider.RootGuardian;
        return Visit(root);
    }

    /// <summary>The least any read of the actors does: every actor through the public API, its path read (also <see cref="MonitorBenchmarks"/>' baseline).</summary>
    internal static int Visit(ActorRefWithCell actor)
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

    [Benchmark(Description = "CaptureLogicalStacks (model)")]
    public ActorSystemDump Capture() => Actors.CaptureLogicalStacks();

    [Benchmark(Description = "DumpLogicalStacks (text)")]
    public string Dump() => Actors.DumpLogicalStacks();
}

/// <summary>
/// The actor system of <see cref="DumpBenchmarks"/> and <see cref="MonitorBenchmarks"/>: <see cref="BenchNode"/>'s actors
/// (10,000, 100 busy in async handlers on a gate, found with TaskTracking), the timed mailbox on, no Akka.Remote.
/// </summary>
public abstract class BusySystem
{
    private TaskCompletionSource<string> _release = null!;

    protected ActorSystem Actors { get; private set; } = null!;

    [GlobalSetup]
    public void Setup()
    {
        TaskTracking.Enable(TaskTrackingMode.Registry);
        Actors = ActorSystem.Create("bench", StackscopeAkka.TimedMailboxConfig).UseStackscope();
        _release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        BenchNode.Populate(Actors, _release.Task);
        ActorSystemDump check = Actors.CaptureLogicalStacks();
        if (check.Root.SubtreeBusyCount != BenchNode.BusyCount || check.BusyActors.Count(static a => a.Stack is not null) != BenchNode.BusyCount
            || check.Root.SubtreeCount < BenchNode.Pools * BenchNode.PoolSize + BenchNode.BusyCount)
        {
            throw new InvalidOperationException($"setup: {check.Root.SubtreeBusyCount} busy of {check.Root.SubtreeCount}");
        }
        SetUpMore();
    }

    /// <summary>What a benchmark class adds to the set-up.</summary>
    protected virtual void SetUpMore()
    {
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _release.TrySetResult("done");
        Actors.Terminate().Wait(TimeSpan.FromSeconds(10));
        TaskTracking.Disable();
    }
}
