using System.Buffers.Binary;

namespace Stackscope.Akka.Remote;

/// <summary>
/// The frames Stackscope's node actors exchange over Akka.Remote: byte arrays, which Akka serializes as they are with
/// no setup. A question is one frame; an answer is cut into chunks under Akka.Remote's default maximum frame size
/// (128,000 bytes), since the stacks of many busy actors easily pass it.
/// </summary>
internal static class NodeWire
{
    private const byte QueryTag = (byte)'Q';
    private const byte ChunkTag = (byte)'C';
    private const int ChunkHeader = 1 + 16 + 4 + 4;

    /// <summary>The most answer bytes in one chunk.</summary>
    public const int ChunkSize = 64 * 1024;

    /// <summary>The most chunks an answer may have (a 64 MB answer); more is refused as bad input.</summary>
    public const int MaxChunks = 1024;

    public static byte[] Query(NodeQuery query)
    {
        byte[] json = NodeJson.Write(query);
        var frame = new byte[json.Length + 1];
        frame[0] = QueryTag;
        json.CopyTo(frame, 1);
        return frame;
    }

    public static IEnumerable<byte[]> Chunks(Guid id, byte[] answer)
    {
        int count = Math.Max(1, (answer.Length + ChunkSize - 1) / ChunkSize);
        for (int i = 0; i < count; i++)
        {
            int length = Math.Min(ChunkSize, answer.Length - i * ChunkSize);
            var frame = new byte[ChunkHeader + length];
            frame[0] = ChunkTag;
            id.TryWriteBytes(frame.AsSpan(1, 16));
            BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(17, 4), i);
            BinaryPrimitives.WriteInt32LittleEndian(frame.AsSpan(21, 4), count);
            answer.AsSpan(i * ChunkSize, length).CopyTo(frame.AsSpan(ChunkHeader));
            yield return frame;
        }
    }

    /// <summary>A question, or null if <paramref name="frame"/> is not one (bad input: the caller says so).</summary>
    public static NodeQuery? ReadQuery(byte[] frame) =>
        frame.Length > 1 && frame[0] == QueryTag ? NodeJson.Read<NodeQuery>(frame.AsSpan(1)) : null;

    /// <summary>A chunk of an answer, or false if <paramref name="frame"/> is not a well-formed one.</summary>
    public static bool TryReadChunk(byte[] frame, out Guid id, out int index, out int count, out ReadOnlyMemory<byte> data)
    {
        id = default;
        index = count = 0;
        data = default;
        if (frame.Length < ChunkHeader || frame[0] != ChunkTag)
        {
            return false;
        }
        id = new Guid(frame.AsSpan(1, 16));
        index = BinaryPrimitives.ReadInt32LittleEndian(frame.AsSpan(17, 4));
        count = BinaryPrimitives.ReadInt32LittleEndian(frame.AsSpan(21, 4));
        data = frame.AsMemory(ChunkHeader);
        return count is > 0 and <= MaxChunks && index >= 0 && index < count && data.Length <= ChunkSize;
    }
}
