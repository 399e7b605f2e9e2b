using Akka.Actor;
using BenchmarkDotNet.Attributes;
using Stackscope.Akka;
using Stackscope.Akka.Benchmarks;

/// <summary>
/// One poll of <see cref="ActorSystemStuckWork"/> (what the stuck-work monitor does every PollInterval, 5 s by default)
/// over <see cref="DumpBenchmarks"/>' system: 10,000 actors, 100 busy in async handlers. With a threshold of an hour
/// nothing is stuck and a poll is the scan alone; with a threshold of zero all 100 are, each with its handler's stack.
/// The baseline and the full dump are the same as in <see cref="DumpBenchmarks"/>, in the same run.
/// </summary>
[MemoryDiagnoser]
public class MonitorBenchmarks : BusySystem
{
    private ActorSystemStuckWork _source = null!;

    protected override void SetUpMore()
    {
        _source = new ActorSystemStuckWork(Actors);
        int stuck = _source.Read(TimeSpan.Zero).Count(static w => w.Stack is not null);
        if (stuck != BenchNode.BusyCount || _source.Read(TimeSpan.FromHours(1)).Any())
        {
            throw new InvalidOperationException($"setup: {stuck} stuck with stacks, not {BenchNode.BusyCount}");
        }
    }

    [Benchmark(Baseline = true, Description = "visit every actor (public API, paths)")]
    public int VisitEveryActor() => DumpBenchmarks.Visit((ActorRefWithCell)((ExtendedActorSystem)Actors).Provider.RootGuardian);

    [Benchmark(Description = "poll, nothing stuck (threshold 1 h)")]
    public int PollNothingStuck() => _source.Read(TimeSpan.FromHours(1)).Count();

    [Benchmark(Description = "poll, 100 stuck with stacks (threshold 0)")]
    public int PollAllStuck() => _source.Read(TimeSpan.Zero).Count();

    [Benchmark(Description = "CaptureLogicalStacks (model)")]
    public ActorSystemDump Capture() => Actors.CaptureLogicalStacks();
}
