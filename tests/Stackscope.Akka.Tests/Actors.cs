using Akka.Actor;

namespace Stackscope.Akka.Tests;

// Test subjects: real actors whose async handlers suspend on gates the tests hold. Lines marked `// @name` are
// asserted by the tests; keep each marker on the await it names.

public sealed record Work(string Name);

/// <summary>A suspension point a test controls: the handler says it reached it, and waits until released.</summary>
public sealed class Gate
{
    public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public TaskCompletionSource<string> Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>C: awaits its gate.</summary>
public sealed class Back : ReceiveActor
{
    public Back(Gate gate)
    {
        ReceiveAsync<Work>(async work =>
        {
            gate.Entered.TrySetResult();
            string answer = await gate.Release.Task; // @back-await
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
            Task<string> reply = next.Ask<string>(new Work(work.Name + " via middle"));
            gate.Entered.TrySetResult();
            string answer = await reply; // @middle-ask
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
        Task<string> reply = _next.Ask<string>(new Work(work.Name + " via front"));
        _gate.Entered.TrySetResult();
        return await reply; // @front-ask
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
            Task<string> reply = _peer.Ask<string>(new Work(work.Name + "'"));
            gate.Entered.TrySetResult();
            string answer = await reply; // @asker-ask
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
