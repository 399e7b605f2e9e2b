using Akka.Actor;

namespace Stackscope.Akka.Tests;

// Test subjects: real actors whose async handlers suspend on gates the tests hold. Lines marked `// @name` are
// asserted by the tests; keep each marker on the await it names.

public sealed record Work(string Name);

/// <summary>
/// A suspension point a test controls: the handler says which task it is about to await (its own gate, or an
/// Ask), and the test waits until the handler is suspended on it (see ActorDumpTests.Suspended).
/// </summary>
public sealed class Gate
{
    public TaskCompletionSource<Task> Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource<string> Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Returns <paramref name="awaited"/>, having told the test that the handler awaits it next.</summary>
    public Task<T> Entering<T>(Task<T> awaited)
    {
        Entered.TrySetResult(awaited);
        return awaited;
    }
}

/// <summary>C: awaits its gate.</summary>
public sealed class Back : ReceiveActor
{
    public Back(Gate gate)
    {
        ReceiveAsync<Work>(async work =>
        {
            string answer = await gate.Entering(gate.Release.Task); // @back-await
            Sender.Tell(answer + " from back");
        });
    }
}

/// <summary>B: asks the next actor.</summary>
public sealed class Middle : ReceiveActor
{
    public Middle(IActorRef next, Gate gate)
    {
        ReceiveAsync<Work>(async work =>
        {
            string answer = await gate.Entering(next.Ask<string>(new Work(work.Name + " via middle"))); // @middle-ask
            Sender.Tell(answer);
        });
    }
}

/// <summary>A: asks the next actor through a helper async method, so its stack has two frames of its own.</summary>
public sealed class Front : ReceiveActor
{
    private readonly IActorRef _next;
    private readonly Gate _gate;

    public Front(IActorRef next, Gate gate)
    {
        _next = next;
        _gate = gate;
        ReceiveAsync<Work>(async work =>
        {
            string answer = await ForwardAsync(work); // @front-handler
            Sender.Tell(answer);
        });
    }

    private async Task<string> ForwardAsync(Work work)
    {
        return await _gate.Entering(_next.Ask<string>(new Work(work.Name + " via front"))); // @front-ask
    }
}

/// <summary>Asks whichever actor it is told to ask; used for Ask cycles (two of them asking each other) and stopped targets.</summary>
public sealed class Asker : ReceiveActor
{
    private IActorRef _peer = ActorRefs.Nobody;

    public Asker(Gate gate)
    {
        Receive<IActorRef>(peer => _peer = peer);
        ReceiveAsync<Work>(async work =>
        {
            string answer = await gate.Entering(_peer.Ask<string>(new Work(work.Name + "'"))); // @asker-ask
            Sender.Tell(answer);
        });
    }
}

/// <summary>Does nothing.</summary>
public sealed class Idle : ReceiveActor
{
    public Idle() => ReceiveAny(_ => { });
}

/// <summary>Starts <c>count</c> idle children named w-0000, w-0001, ...</summary>
public sealed class Pool : ReceiveActor
{
    public Pool(int count)
    {
        for (int i = 0; i < count; i++)
        {
            Context.ActorOf(Props.Create(() => new Idle()), $"w-{i:0000}");
        }
        Receive<string>(_ => Sender.Tell(Context.GetChildren().Count()));
    }
}

/// <summary>Forwards every Work to a worker, keeping the original sender (an Ask stays the sender): to a given actor, or to a child it starts.</summary>
public sealed class Forwarder : ReceiveActor
{
    public Forwarder(IActorRef to) => Receive<Work>(work => to.Forward(work));

    public Forwarder(Props worker)
    {
        IActorRef to = Context.ActorOf(worker, "worker");
        Receive<Work>(work => to.Forward(work));
    }
}

/// <summary>Like Back, with a child "desk" that forwards Work to it: the forwarder is read after the worker.</summary>
public sealed class BackWithDesk : ReceiveActor
{
    public BackWithDesk(Gate gate)
    {
        Context.ActorOf(Props.Create(() => new Forwarder(Self)), "desk");
        ReceiveAsync<Work>(async work =>
        {
            string answer = await gate.Entering(gate.Release.Task); // @desk-back-await
            Sender.Tell(answer + " from back");
        });
    }
}

/// <summary>Throws on every string; its parent's default strategy restarts it, and it says so.</summary>
public sealed class Fragile : ReceiveActor
{
    private readonly TaskCompletionSource _restarted;

    public Fragile(TaskCompletionSource restarted)
    {
        _restarted = restarted;
        Receive<string>(text => throw new InvalidOperationException(text));
    }

    protected override void PostRestart(Exception reason)
    {
        base.PostRestart(reason);
        _restarted.TrySetResult();
    }
}

/// <summary>Supervises one Fragile child, "fragile", with the default strategy (restart).</summary>
public sealed class Supervisor : ReceiveActor
{
    public Supervisor(TaskCompletionSource restarted)
    {
        Context.ActorOf(Props.Create(() => new Fragile(restarted)), "fragile");
        ReceiveAny(_ => { });
    }
}

/// <summary>Pipes a slow lookup, or an Ask to the next actor, to itself: its handler returns at once, the PipeTo stays pending.</summary>
public sealed class Piper : ReceiveActor
{
    private readonly Gate _gate;

    public Piper(Gate gate, IActorRef next)
    {
        _gate = gate;
        Receive<Work>(work =>
        {
            Task<string> answer = work.Name == "ask" ? next.Ask<string>(new Work("piped")) : LookUpAsync(work);
            answer.PipeTo(Self);
        });
        Receive<string>(_ => { });
    }

    private async Task<string> LookUpAsync(Work work)
    {
        return await _gate.Entering(_gate.Release.Task) + " for " + work.Name; // @piper-await
    }
}

/// <summary>The stock keeper of the monitor's tests: its handler of Reserve awaits its gate.</summary>
public sealed record Reserve(string Sku);

/// <summary>Reserves stock, awaiting its gate in a method of its own.</summary>
public sealed class Stock : ReceiveActor
{
    private readonly Gate _gate;

    public Stock(Gate gate)
    {
        _gate = gate;
        ReceiveAsync<Reserve>(async reserve =>
        {
            string answer = await ReserveAsync(reserve); // @stock-handler
            Sender.Tell(answer);
        });
    }

    private async Task<string> ReserveAsync(Reserve reserve)
    {
        return await _gate.Entering(_gate.Release.Task) + " reserved"; // @stock-await
    }
}

/// <summary>Code outside any actor that asks one (a controller, a test): its await is the Ask's caller.</summary>
public static class Checkout
{
    public static async Task<string> ReserveAsync(IActorRef stock, string sku, TimeSpan timeout)
    {
        return await stock.Ask<string>(new Reserve(sku), timeout); // @checkout-ask
    }
}
