using System.Runtime.InteropServices;
using Microsoft.Diagnostics.Runtime;
using Stackscope.Diagnostics.Clr;

namespace Stackscope.Tests;

/// <summary>
/// The page cache a live read goes through must answer every read exactly as the process's own reader does (the same bytes,
/// the same count where memory ends), while asking that reader once per page only.
/// </summary>
public class PageCacheReaderTests
{
    /// <summary>Memory readable in [<paramref name="start"/>, <paramref name="end"/>) only, each byte a function of its address; counts the reads it serves.</summary>
    private sealed class Memory(ulong start, ulong end) : IDataReader
    {
        public List<int> Reads { get; } = new();

        public static byte At(ulong address) => (byte)(address * 31 + (address >> 12));

        public int Read(ulong address, Span<byte> buffer)
        {
            Reads.Add(buffer.Length);
            if (address < start || address >= end)
            {
                return 0;
            }
            int count = (int)Math.Min((ulong)buffer.Length, end - address);
            for (int i = 0; i < count; i++)
            {
                buffer[i] = At(address + (ulong)i);
            }
            return count;
        }

        public string DisplayName => "memory";
        public bool IsThreadSafe => false;
        public OSPlatform TargetPlatform => OSPlatform.Linux;
        public Architecture Architecture => Architecture.X64;
        public int ProcessId => 1;
        public int PointerSize => 8;
        public IEnumerable<ModuleInfo> EnumerateModules() => [];
        public bool GetThreadContext(uint threadID, uint contextFlags, Span<byte> context) => false;
        public void FlushCachedData() { }
        public bool Read<T>(ulong address, out T value) where T : unmanaged => throw new NotSupportedException();
        public T Read<T>(ulong address) where T : unmanaged => throw new NotSupportedException();
        public bool ReadPointer(ulong address, out ulong value) => throw new NotSupportedException();
        public ulong ReadPointer(ulong address) => throw new NotSupportedException();
    }

    private const ulong Start = 0x10_0000, End = 0x10_0000 + 10 * 4096 + 100; // ends 100 bytes into a page

    [Theory]
    [InlineData(Start, 8)]
    [InlineData(Start + 4090, 16)]          // across a page boundary
    [InlineData(Start + 3 * 4096 - 1, 9000)] // across three pages
    [InlineData(End - 4, 8)]                // where memory ends: the readable part only
    [InlineData(End + 8, 8)]                // beyond it: nothing
    [InlineData(Start - 8, 16)]             // before it: nothing (the inner reader's answer)
    [InlineData(Start + 100, 40_000)]       // a large read, straight through
    public void A_read_gives_what_the_process_reader_gives(ulong address, int length)
    {
        var cached = new PageCacheReader(new Memory(Start, End), owner: null);
        var expected = new byte[length];
        int expectedCount = new Memory(Start, End).Read(address, expected);

        var actual = new byte[length];
        int count = cached.Read(address, actual);

        Assert.Equal(expectedCount, count);
        Assert.Equal(expected.AsSpan(0, expectedCount).ToArray(), actual.AsSpan(0, count).ToArray());
        // Read again: the same answer, from the pages held.
        Assert.Equal(count, cached.Read(address, actual));
        Assert.Equal(expected.AsSpan(0, expectedCount).ToArray(), actual.AsSpan(0, count).ToArray());
    }

    [Fact]
    public void Small_reads_ask_the_process_once_per_page()
    {
        var memory = new Memory(Start, End);
        var cached = new PageCacheReader(memory, owner: null);
        Span<byte> word = stackalloc byte[8];
        for (int pass = 0; pass < 3; pass++)
        {
            for (ulong address = Start; address + 8 <= End; address += 40)
            {
                Assert.Equal(8, cached.Read(address, word));
                Assert.Equal(Memory.At(address + 7), word[7]);
            }
        }
        Assert.Equal(11, memory.Reads.Count); // ten pages and the 100 bytes of the eleventh
        Assert.All(memory.Reads, length => Assert.Equal(4096, length));

        // A large read is never held: asked each time, with the caller's own buffer.
        var chunk = new byte[64 * 1024];
        cached.Read(Start, chunk);
        cached.Read(Start, chunk);
        Assert.Equal([64 * 1024, 64 * 1024], memory.Reads.Skip(11));

        // Flushing forgets the pages.
        cached.FlushCachedData();
        Assert.Equal(8, cached.Read(Start, word));
        Assert.Equal(4096, memory.Reads[^1]);
    }

    [Fact]
    public void Once_the_cache_is_full_reads_go_straight_to_the_process_and_stay_right()
    {
        const ulong bigEnd = Start + 20_000 * 4096UL; // more pages than the cache holds
        var memory = new Memory(Start, bigEnd);
        var cached = new PageCacheReader(memory, owner: null);
        Span<byte> word = stackalloc byte[8];
        for (ulong address = Start + 4092; address + 8 <= bigEnd; address += 4096)
        {
            int count = cached.Read(address, word); // across each page boundary
            Assert.Equal(8, count);
            for (int i = 0; i < 8; i++)
            {
                Assert.Equal(Memory.At(address + (ulong)i), word[i]);
            }
        }
        Assert.Contains(8, memory.Reads); // the reads past the limit went through as asked
    }

    [Fact]
    public void Typed_reads_go_through_the_cache()
    {
        var cached = new PageCacheReader(new Memory(Start, End), owner: null);
        ulong expected = 0;
        for (int i = 7; i >= 0; i--)
        {
            expected = expected << 8 | Memory.At(Start + 4094 + (ulong)i);
        }
        Assert.Equal(expected, cached.ReadPointer(Start + 4094));
        Assert.Equal(expected, cached.Read<ulong>(Start + 4094));
        Assert.True(cached.Read(Start + 4094, out ulong value));
        Assert.Equal(expected, value);
        Assert.False(cached.ReadPointer(End - 4, out _)); // only half of it is readable
        Assert.Equal(0UL, cached.ReadPointer(End + 8));
    }
}
