using Stackscope.Akka.Remote;

namespace Stackscope.Akka.Tests;

/// <summary>What a node does with frames from the network that are not what they claim: refuses them with a reason, never throws anything else.</summary>
public sealed class NodeWireTests
{
    [Fact]
    public void A_question_and_a_chunked_answer_round_trip_and_bad_frames_are_refused_with_a_reason()
    {
        var query = new NodeQuery(Guid.NewGuid(), NodeQuery.Holders, ["akka.tcp://s@127.0.0.1:1/temp/a"], ["akka.tcp://s@127.0.0.1:1/user/a"], [], 4500, 3, 80);
        Assert.Equal(query.Keys, NodeWire.ReadQuery(NodeWire.Query(query))!.Keys);

        byte[] answer = new byte[NodeWire.ChunkSize * 2 + 10];
        Random.Shared.NextBytes(answer);
        byte[][] chunks = NodeWire.Chunks(query.Id, answer).ToArray();
        Assert.Equal(3, chunks.Length);
        Assert.All(chunks, static c => Assert.True(c.Length < 128_000, "under Akka.Remote's default maximum frame size"));
        Assert.True(NodeWire.TryReadChunk(chunks[2], out Guid id, out int index, out int count, out ReadOnlyMemory<byte> data));
        Assert.Equal((query.Id, 2, 3, 10), (id, index, count, data.Length));

        FormatException bad = Assert.Throws<FormatException>(() => NodeWire.ReadQuery("Q{\"id\": 5"u8.ToArray()));
        Assert.StartsWith("not a Stackscope NodeQuery: ", bad.Message);
        Assert.Null(NodeWire.ReadQuery("X"u8.ToArray()));
        byte[] forged = (byte[])chunks[0].Clone();
        BitConverter.TryWriteBytes(forged.AsSpan(21, 4), 5_000); // more chunks than any answer may have
        Assert.False(NodeWire.TryReadChunk(forged, out _, out _, out _, out _));
        Assert.Throws<FormatException>(() => NodeJson.Read<DumpAnswer>("null"u8));
    }
}
