using System.Runtime.CompilerServices;
using System.Buffers.Binary;
using Microsoft.Diagnostics.Runtime;

namespace Stackscope.Diagnostics.Clr;

/// <summary>
/// Walks the GC heap's objects straight from the target's memory: each segment is read in large chunks and stepped through
/// object by object by the sizes the GC itself uses (the method table's base size, plus its component size times an
/// array's or string's length), skipping the threads' allocation contexts, as ClrMD's own enumeration does.
/// </summary>
/// <remarks>
/// ClrMD's <see cref="ClrHeap.EnumerateObjects()"/> resolves a <see cref="ClrType"/> under a lock and looks up the
/// allocation contexts under another for every object, and reads through a small cache: for 100,000 objects that is most
/// of a read's time. Here a method table is read, and its objects' relevance decided by the caller, the first time it is
/// met only; every other object costs a table look-up and an addition, and the caller sees only the objects it asked for,
/// with their bytes already read. Where memory cannot be read or a method table makes no sense, the walk of that segment
/// stops, as ClrMD's does when not asked to walk carefully, and the count of such segments is returned.
/// </remarks>
internal static class HeapWalk
{
    /// <summary>Bytes read at once from a small-object segment: a few system calls per megabyte of heap.</summary>
    private const int ChunkSize = 256 << 10;

    /// <summary>From a large-object segment, whose objects are mostly skipped over: enough for one object's header and fields.</summary>
    private const int LargeChunkSize = 16 << 10;

    /// <summary>A method table as the GC sees it: what sizes its objects, and whether the caller visits them.</summary>
    private readonly record struct TableInfo(uint BaseSize, uint ComponentSize, bool Wanted);

    /// <summary>What the walk hands its objects to.</summary>
    public interface IVisitor
    {
        /// <summary>Whether objects of this method table are visited; asked once per method table.</summary>
        bool Wants(ulong methodTable);

        /// <summary>An object of a wanted method table: its address and its bytes from its start (at least its base size).</summary>
        void Visit(ulong address, ulong methodTable, ReadOnlySpan<byte> bytes);
    }

    /// <summary>Walks every segment of <paramref name="heap"/> in address order.</summary>
    /// <returns>The number of objects walked, and the number of segments whose walk stopped early (unreadable memory or a corrupt object).</returns>
    /// <remarks>
    /// This method and the reader's per-object methods are compiled fully optimized at once: they run once per read over
    /// 100,000s of objects, and as tier-0 code (what the JIT compiles first) the first reads of a process took twice as long.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static (long Objects, int BrokenSegments) Walk(ClrHeap heap, IDataReader reader, IVisitor visitor, Action<long>? progress, CancellationToken cancellation)
    {
        int pointerSize = reader.PointerSize;
        uint minObjectSize = (uint)pointerSize * 3;
        var tables = new Dictionary<ulong, TableInfo>();
        ulong lastTable = 0;
        TableInfo last = default;
        Span<byte> tableBytes = stackalloc byte[8];

        // Allocation contexts, by start: the memory between a context's start and end holds no objects yet.
        MemoryRange[] contexts = heap.EnumerateAllocationContexts().Where(c => c.Start < c.End).OrderBy(c => c.Start).ToArray();
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(ChunkSize);
        var window = new Window(reader, buffer);
        long objects = 0;
        int broken = 0;
        bool IsTable(ulong candidate) => candidate >= 0x1000 && (tables.ContainsKey(candidate) || heap.GetTypeByMethodTable(candidate) is not null);

        foreach (ClrSegment segment in heap.Segments.OrderBy(s => s.ObjectRange.Start))
        {
            ulong obj = segment.ObjectRange.Start;
            ulong end = segment.ObjectRange.End;
            bool large = segment.Kind is GCSegmentKind.Large or GCSegmentKind.Pinned;
            bool hasContexts = segment.Kind is not (GCSegmentKind.Large or GCSegmentKind.Frozen);
            ulong alignMask = large ? 7UL : (ulong)pointerSize - 1;
            ulong contextSkip = (minObjectSize + alignMask) & ~alignMask;
            int chunk = large ? LargeChunkSize : ChunkSize;
            int context = 0;
            while (context < contexts.Length && contexts[context].Start < obj)
            {
                context++;
            }

            while (obj < end)
            {
                if ((++objects & 0xFFFF) == 0)
                {
                    cancellation.ThrowIfCancellationRequested();
                    progress?.Invoke(objects);
                }
                // The header (method table and, for an array or string, its length) must be in the buffer.
                if (!window.Ensure(obj, pointerSize * 2, end, chunk))
                {
                    broken++;
                    break;
                }
                ulong table = window.Word(obj, pointerSize) & ~3UL;
                if (table == 0)
                {
                    // Zeroed memory where an object should begin: the unused rest of an allocation context the runtime's
                    // list lacks (a live thread's). As ClrMD's careful walk does, step over it to the next method table the
                    // runtime knows (or the one after a non-empty object header); only if there is none is the walk broken.
                    objects--; // the gap is not an object
                    ulong next = obj;
                    while (next + (ulong)pointerSize <= end && window.Ensure(next, pointerSize, end, chunk) && window.Word(next, pointerSize) == 0)
                    {
                        next += (ulong)pointerSize;
                    }
                    if (next + (ulong)pointerSize > end || !window.Ensure(next, pointerSize, end, chunk))
                    {
                        break; // empty to the segment's end
                    }
                    if (!IsTable(window.Word(next, pointerSize) & ~3UL))
                    {
                        next += (ulong)pointerSize; // a header word: the method table follows it
                        if (!window.Ensure(next, pointerSize, end, chunk) || !IsTable(window.Word(next, pointerSize) & ~3UL))
                        {
                            broken++;
                            break;
                        }
                    }
                    obj = next;
                    continue;
                }
                if (table != lastTable)
                {
                    if (!tables.TryGetValue(table, out last))
                    {
                        if (table < 0x1000 || reader.Read(table, tableBytes) < tableBytes.Length)
                        {
                            broken++;
                            break; // not an object: the segment's walk cannot go on
                        }
                        // A MethodTable begins with its flags (the low 16 bits are the component size when the high bit is set)
                        // and its base size: what the GC computes an object's size from.
                        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(tableBytes);
                        uint baseSize = BinaryPrimitives.ReadUInt32LittleEndian(tableBytes[4..]);
                        // Every object has a header and a method table (a string's base size, 22 bytes, is below the 24 an object takes).
                        if (baseSize < (uint)pointerSize * 2 || baseSize > 1u << 28)
                        {
                            broken++;
                            break;
                        }
                        last = new TableInfo(baseSize, (flags & 0x80000000) != 0 ? flags & 0xFFFF : 0, visitor.Wants(table));
                        tables[table] = last;
                    }
                    lastTable = table;
                }
                ulong size = last.BaseSize;
                if (last.ComponentSize != 0)
                {
                    size += (ulong)BinaryPrimitives.ReadUInt32LittleEndian(window.From(obj)[pointerSize..]) * last.ComponentSize;
                }
                if (last.Wanted)
                {
                    if (!window.Ensure(obj, (int)last.BaseSize, end, chunk))
                    {
                        broken++;
                        break;
                    }
                    visitor.Visit(obj, table, window.From(obj));
                }
                size = Math.Max((size + alignMask) & ~alignMask, minObjectSize);
                obj += size;

                if (hasContexts)
                {
                    while (context < contexts.Length && contexts[context].Start < obj)
                    {
                        context++;
                    }
                    // An allocation context is skipped to the first object after it (a context's end leaves room for one free object).
                    while (context < contexts.Length && contexts[context].Start == obj)
                    {
                        ulong next = contexts[context].End + contextSkip;
                        if (next <= obj || next >= end)
                        {
                            obj = end;
                            break;
                        }
                        obj = next;
                        context++;
                    }
                }
            }
        }
        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        progress?.Invoke(objects);
        return (objects, broken);
    }

    /// <summary>The chunk of target memory the walk is stepping through, read from the target one chunk at a time.</summary>
    private struct Window(IDataReader reader, byte[] buffer)
    {
        private ulong _start;
        private int _length;

        /// <summary>
        /// Whether bytes [<paramref name="address"/>, + <paramref name="needed"/>) are in the window: if not, a chunk is read
        /// from <paramref name="address"/> (<paramref name="chunk"/> bytes, no further than <paramref name="end"/>, the
        /// segment's end); false when not even the needed bytes could be read.
        /// </summary>
        public bool Ensure(ulong address, int needed, ulong end, int chunk)
        {
            if (address >= _start && address + (ulong)needed <= _start + (ulong)_length)
            {
                return true;
            }
            int size = (int)Math.Min((ulong)Math.Max(chunk, needed), end - address);
            _start = address;
            _length = size >= needed ? reader.Read(address, buffer.AsSpan(0, Math.Min(size, buffer.Length))) : 0;
            if (_length < needed)
            {
                _length = 0;
                return false;
            }
            return true;
        }

        /// <summary>The window's bytes from <paramref name="address"/> on (after <see cref="Ensure"/>).</summary>
        public readonly ReadOnlySpan<byte> From(ulong address) => buffer.AsSpan((int)(address - _start), _length - (int)(address - _start));

        /// <summary>The pointer-sized word at <paramref name="address"/> (after <see cref="Ensure"/>).</summary>
        public readonly ulong Word(ulong address, int pointerSize) =>
            pointerSize == 8 ? BinaryPrimitives.ReadUInt64LittleEndian(From(address)) : BinaryPrimitives.ReadUInt32LittleEndian(From(address));
    }
}
