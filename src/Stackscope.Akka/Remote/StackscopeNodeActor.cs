using Akka.Actor;
using Akka.Event;

namespace Stackscope.Akka.Remote;

/// <summary>
/// <c>/system/stackscope</c> on every node that calls <see cref="StackscopeAkka.UseStackscope"/>: answers other nodes'
/// questions (<see cref="NodeQuery"/>) and takes the answers to this node's. An answer is prepared on the thread pool,
/// never in this actor, so the actor stays free: in a cycle across nodes, this node is asked about its own actors
/// while it waits for the answer about another's.
/// </summary>
internal sealed class StackscopeNodeActor(NodeClient client) : UntypedActor
{
    public const string Name = "stackscope";

    /// <summary>
    /// The most questions answered at once; more are refused at once, with the reason. A cycle across nodes asks a node
    /// again while it answers (one question per hop), so the limit is well above a chain's length.
    /// </summary>
    public const int MaxAnswering = 16;

    private int _answering;

    private readonly ILoggingAdapter _log = Context.GetLogger();

    protected override void OnReceive(object message)
    {
        switch (message)
        {
            case byte[] frame when NodeWire.TryReadChunk(frame, out _, out _, out _, out _):
                client.Accept(frame);
                break;
            case byte[] frame:
                Serve(frame, Sender);
                break;
            case ActorIdentity identity:
                client.Identified(identity);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void Serve(byte[] frame, IActorRef asker)
    {
        NodeQuery? query;
        try
        {
            query = NodeWire.ReadQuery(frame);
        }
        catch (FormatException e)
        {
            _log.Warning("Stackscope: ignored a question from {0}: {1}", asker.Path, e.Message);
            return;
        }
        if (query is null)
        {
            _log.Warning("Stackscope: ignored a frame from {0} that is neither a question nor an answer", asker.Path);
            return;
        }
        IActorRef self = Self;
        ActorSystem system = Context.System;
        if (Interlocked.Increment(ref _answering) > MaxAnswering)
        {
            Interlocked.Decrement(ref _answering);
            Send(NodeService.Refusal(system, query, $"busy answering {MaxAnswering} other questions"));
            return;
        }
        _ = Task.Run(async () =>
        {
            try
            {
                Send(await NodeService.AnswerAsync(system, query).ConfigureAwait(false));
            }
            finally
            {
                Interlocked.Decrement(ref _answering);
            }
        });

        void Send(byte[] answer)
        {
            foreach (byte[] chunk in NodeWire.Chunks(query.Id, answer))
            {
                asker.Tell(chunk, self);
            }
        }
    }
}
