using System.Collections.Concurrent;
using Akka.Actor;
using Stackscope.Glue;

namespace Stackscope.Akka.Remote;

/// <summary>What one node answered, or why it did not.</summary>
internal sealed record NodeReply(Address Node, byte[]? Answer, string? Failure);

/// <summary>
/// This node's side of the questions it asks other nodes: sends each through its <see cref="StackscopeNodeActor"/> (the
/// answers come back to it) and waits for the answer's chunks, never longer than the bound it is given. One per
/// actor system, owned by its <see cref="Setup.StackscopeAkkaExtension"/>.
/// </summary>
internal sealed class NodeClient(ExtendedActorSystem system)
{
    private readonly ConcurrentDictionary<Guid, PendingAnswer> _pending = new();

    /// <summary>This node's actor; answers to its questions are sent to it.</summary>
    public IActorRef Actor { get; set; } = ActorRefs.Nobody;

    /// <summary>Asks <paramref name="node"/>'s Stackscope <paramref name="query"/>; waits at most <paramref name="bound"/>. Never throws but for cancellation.</summary>
    public async Task<NodeReply> AskAsync(Address node, NodeQuery query, TimeSpan bound, CancellationToken cancellationToken)
    {
        var pending = new PendingAnswer();
        _pending[query.Id] = pending;
        try
        {
            ActorSelection target = system.ActorSelection(new RootActorPath(node) / "system" / StackscopeNodeActor.Name);
            target.Tell(NodeWire.Query(query), Actor);
            // A node without Stackscope has no such actor and answers this at once with no subject: it is then not waited for.
            target.Tell(new Identify(query.Id.ToString("N")), Actor);
            byte[] answer = await pending.Task.WaitAsync(bound, cancellationToken).ConfigureAwait(false);
            return new NodeReply(node, answer, null);
        }
        catch (TimeoutException)
        {
            return new NodeReply(node, null, $"did not answer within {GlueText.Duration(bound)}");
        }
        catch (NodeFailedException e)
        {
            return new NodeReply(node, null, e.Message);
        }
        finally
        {
            _pending.TryRemove(query.Id, out _);
        }
    }

    /// <summary>Takes one chunk of an answer (on the node actor's thread); a chunk of no pending question is dropped.</summary>
    public void Accept(byte[] frame)
    {
        if (!NodeWire.TryReadChunk(frame, out Guid id, out int index, out int count, out ReadOnlyMemory<byte> data))
        {
            return;
        }
        if (_pending.TryGetValue(id, out PendingAnswer? pending))
        {
            pending.Add(index, count, data);
        }
    }

    /// <summary>An answer to the <see cref="Identify"/> sent with a question: no subject means the node has no Stackscope.</summary>
    public void Identified(ActorIdentity identity)
    {
        if (identity.Subject is null && identity.MessageId is string text && Guid.TryParseExact(text, "N", out Guid id)
            && _pending.TryGetValue(id, out PendingAnswer? pending))
        {
            pending.Fail("has no Stackscope (actorSystem.UseStackscope() was not called there)");
        }
    }

    private sealed class NodeFailedException(string message) : Exception(message);

    /// <summary>The chunks of one answer as they come (in any order); complete when all have.</summary>
    private sealed class PendingAnswer
    {
        private readonly TaskCompletionSource<byte[]> _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private byte[][]? _chunks;
        private int _received;

        public Task<byte[]> Task => _done.Task;

        public void Add(int index, int count, ReadOnlyMemory<byte> data)
        {
            lock (this)
            {
                _chunks ??= new byte[count][];
                if (_chunks.Length != count || _chunks[index] is not null)
                {
                    _done.TrySetException(new NodeFailedException("sent an answer whose chunks do not agree (bad input)"));
                    return;
                }
                _chunks[index] = data.ToArray();
                if (++_received == count)
                {
                    _done.TrySetResult(_chunks.SelectMany(static c => c).ToArray());
                }
            }
        }

        public void Fail(string reason) => _done.TrySetException(new NodeFailedException(reason));
    }
}
