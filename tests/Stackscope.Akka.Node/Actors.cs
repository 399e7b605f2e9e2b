using Akka.Actor;
using Akka.Cluster;
using Stackscope.Tests;

namespace Stackscope.Akka.Node;

// Actors of the multi-process cluster tests: real actors whose async handlers suspend on gates the tests hold from another
// process. Lines marked `// @name` are asserted by the tests; keep each marker on the await it names.

/// <summary>
/// Asks the actor at <c>Path[0]</c> (a full path, on any node: <c>akka.tcp://stackscope@127.0.0.1:port/user/name</c>), passing
/// it the rest of the path. Its JSON form crosses the processes (Akka's default serializer for user messages).
/// </summary>
public sealed record Call(string[] Path);

/// <summary>
/// On a <see cref="Call"/>, resolves <c>Path[0]</c> (<see cref="Resolve"/>) and Asks it with the rest of the path, from a helper async method (so
/// its stack has two frames of its own), and answers "&lt;answer&gt; via &lt;its name&gt;"; an empty path answers "end" at once.
/// Its gate (its name) is entered while it waits for the answer; abandoned, it answers "abandoned at &lt;its name&gt;".
/// Three relays on three nodes make an Ask chain; two relays asking each other (a path [B, A] given to A) an Ask cycle:
/// B's Ask waits in A's mailbox behind the message A is busy with.
/// </summary>
public sealed class Relay : ReceiveActor
{
    public Relay()
    {
        string name = Self.Path.Name;
        ReceiveAsync<Call>(async call =>
        {
            if (call.Path.Length == 0)
            {
                Sender.Tell("end");
                return;
            }
            try
            {
                string answer = await ForwardAsync(name, call.Path); // @relay-handler
                Sender.Tell(answer + " via " + name);
            }
            catch (OperationCanceledException)
            {
                Sender.Tell("abandoned at " + name);
            }
        });
    }

    private static async Task<string> ForwardAsync(string key, string[] path)
    {
        IActorRef next = Resolve(Context.System, path[0]);
        return await Gate.Entering(key, next.Ask<string>(new Call(path[1..]))).WaitAsync(Gate.Abandoned(key)); // @relay-ask
    }

    /// <summary>
    /// The actor at <paramref name="path"/>, by the provider, without a message: a remote path gives a remote actor reference
    /// at once (an <c>Identify</c> would wait behind the message a busy actor handles, as an Ask back in a cycle must); an
    /// actor that does not exist gets the Ask in its node's dead letters.
    /// </summary>
    public static IActorRef Resolve(ActorSystem system, string path) => ((ExtendedActorSystem)system).Provider.ResolveActorRef(path);
}

/// <summary>On a <see cref="Call"/>, awaits its gate (its name) and answers "&lt;released&gt; from &lt;its name&gt;".</summary>
public sealed class Stuck : ReceiveActor
{
    public Stuck()
    {
        string name = Self.Path.Name;
        ReceiveAsync<Call>(async _ =>
        {
            string answer = await Gate.Enter(name); // @stuck-await
            Sender.Tell(answer + " from " + name);
        });
    }
}

/// <summary>
/// Prints the cluster's membership as this node sees it: "up &lt;address&gt;", "unreachable &lt;address&gt;", "reachable
/// &lt;address&gt;", "downed &lt;address&gt;", "leaving &lt;address&gt;", "removed &lt;address&gt;", and "members &lt;n&gt;" whenever the
/// number of Up members (not leaving, downed or removed) changes.
/// </summary>
public sealed class ClusterWatch : ReceiveActor
{
    private readonly HashSet<Address> _up = new();

    public ClusterWatch()
    {
        Receive<ClusterEvent.MemberUp>(e => Say("up", e.Member.Address, add: true));
        Receive<ClusterEvent.UnreachableMember>(e => Say("unreachable", e.Member.Address));
        Receive<ClusterEvent.ReachableMember>(e => Say("reachable", e.Member.Address));
        Receive<ClusterEvent.MemberDowned>(e => Say("downed", e.Member.Address, remove: true));
        Receive<ClusterEvent.MemberLeft>(e => Say("leaving", e.Member.Address, remove: true));
        Receive<ClusterEvent.MemberRemoved>(e => Say("removed", e.Member.Address, remove: true));
        ReceiveAny(_ => { });
    }

    protected override void PreStart() => Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsEvents,
        typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));

    protected override void PostStop() => Cluster.Get(Context.System).Unsubscribe(Self);

    private void Say(string what, Address address, bool add = false, bool remove = false)
    {
        int before = _up.Count;
        if (add)
        {
            _up.Add(address);
        }
        if (remove)
        {
            _up.Remove(address);
        }
        Console.Out.WriteLine($"{what} {address}");
        if (_up.Count != before)
        {
            Console.Out.WriteLine($"members {_up.Count}");
        }
    }
}
