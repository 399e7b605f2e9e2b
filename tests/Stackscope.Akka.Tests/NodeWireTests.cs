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

    [Fact]
    public void A_nodes_answer_is_read_field_by_field_and_its_system_actors_fold_into_one_line()
    {
        // As another node might send it: a busy actor of Akka's own (sending this very dump's question), a user actor,
        // and fields a careless or lying node got wrong (negative counts, a nonsense duration, missing parts).
        const string node = "akka.tcp://shop@127.0.0.1:4002";
        byte[] sent = NodeJson.Write(new DumpAnswer(node, "shop", -5,
            [
                new ActorJson($"{node}/system/endpointManager/endpointWriter", "EndpointWriter", ActorActivity.Running, new MessageJson("Send", "Remote message", null), null, 0, [], null, null),
                new ActorJson($"{node}/user/stock", "Stock", ActorActivity.Awaiting, new MessageJson("Reserve", "Reserve { Sku = 4711 }", $"{node}/temp/d", "akka.tcp://shop@127.0.0.1:4001/user/orders"),
                    1e300, -3, null!, null, "a note"),
                null!,
            ], [], ["one error"]));
        var dump = ActorNodeDump.From(NodeJson.Read<DumpAnswer>(sent), "Up", isThisNode: false);
        Assert.Equal(0, dump.ActorCount);
        Assert.Equal(2, dump.BusyActors.Count);
        ActorDump stock = dump.BusyActors[1];
        Assert.Equal(("stock", null, 0), (stock.Name, stock.BusyFor, stock.MailboxCount));
        Assert.Empty(stock.Queued);

        var system = new ActorSystemDump("shop", dump.BusyActors[1], [], [], ActorDumpOptions.Default, [dump]);
        string text = system.ToString();
        Assert.Contains("  /user/stock [Stock] BUSY awaiting: Reserve Reserve { Sku = 4711 }\n    from akka.tcp://shop@127.0.0.1:4001/user/orders (its Ask akka.tcp://shop@127.0.0.1:4002/temp/d)\n", text);
        Assert.Contains("  + 1 busy system actor (IncludeSystemActors shows them)", text);
        Assert.DoesNotContain("EndpointWriter", text);
        string all = new ActorSystemDump("shop", stock, [], [], ActorDumpOptions.Default with { IncludeSystemActors = true }, [dump]).ToString();
        Assert.Contains("  /system/endpointManager/endpointWriter [EndpointWriter] BUSY running: Send Remote message", all);
    }
}
