using System.Runtime.InteropServices;
using Microsoft.Diagnostics.Runtime;
using Microsoft.Diagnostics.Runtime.DataReaders.Implementation;

namespace Stackscope.Diagnostics.Clr;

/// <summary>
/// A live process's memory, read a page at a time and kept for the length of one read of the process (while its threads
/// stay stopped, so nothing it holds can change). Everything else is the inner reader's.
/// </summary>
/// <remarks>
/// ClrMD's reader for a live Linux process makes a system call for every read, and the runtime's data access component
/// (what ClrMD asks for types, fields and stack frames) reads in pieces of a few bytes, the same method tables and stacks
/// again and again: about a third of a read of a process went to those system calls. Here a small read costs one system
/// call per page the first time only. A large read (a chunk of the heap walk, read once) goes straight to the inner
/// reader, without a copy, and so does any read once <see cref="MaxPages"/> pages are held.
/// </remarks>
internal sealed class PageCacheReader : IDataReader, IThreadReader, IDisposable
{
    private const int PageSize = 4096;

    /// <summary>Reads at least this long are not cached: the heap walk's chunks, each read once.</summary>
    private const int PassThroughSize = 4 * PageSize;

    /// <summary>The most pages held (64 MiB): a process's type data and stacks take a few hundred.</summary>
    private const int MaxPages = 16384;

    /// <summary>Pages are cut from slabs of this many, rented from the shared pool (its memory is already touched).</summary>
    private const int PagesPerSlab = 64;

    private readonly IDataReader _inner;
    private readonly IDisposable? _owner;
    private readonly Dictionary<ulong, (int Slab, int Offset, int Length)> _pages = new();
    private readonly List<byte[]> _slabs = new();
    private int _pageCount;
    private ulong _lastPage = ulong.MaxValue;
    private (int Slab, int Offset, int Length) _last;

    /// <param name="inner">The live process's reader.</param>
    /// <param name="owner">What owns <paramref name="inner"/> (its data target): disposed with this reader.</param>
    public PageCacheReader(IDataReader inner, IDisposable? owner)
    {
        _inner = inner;
        _owner = owner;
    }

    public string DisplayName => _inner.DisplayName;

    /// <summary>As the inner reader: ClrMD then serializes its calls, and this reader's dictionary is never used by two threads at once.</summary>
    public bool IsThreadSafe => false;

    public OSPlatform TargetPlatform => _inner.TargetPlatform;

    public Architecture Architecture => _inner.Architecture;

    public int ProcessId => _inner.ProcessId;

    public int PointerSize => _inner.PointerSize;

    public IEnumerable<ModuleInfo> EnumerateModules() => _inner.EnumerateModules();

    public bool GetThreadContext(uint threadID, uint contextFlags, Span<byte> context) => _inner.GetThreadContext(threadID, contextFlags, context);

    public IEnumerable<uint> EnumerateOSThreadIds() => _inner is IThreadReader threads ? threads.EnumerateOSThreadIds() : [];

    public ulong GetThreadTeb(uint osThreadId) => _inner is IThreadReader threads ? threads.GetThreadTeb(osThreadId) : 0;

    public void FlushCachedData()
    {
        Clear();
        _inner.FlushCachedData();
    }

    public int Read(ulong address, Span<byte> buffer)
    {
        if (buffer.Length >= PassThroughSize)
        {
            return _inner.Read(address, buffer);
        }
        int done = 0;
        while (done < buffer.Length)
        {
            ulong at = address + (ulong)done;
            ulong page = at & ~(ulong)(PageSize - 1);
            if (!TryPage(page, out ReadOnlySpan<byte> bytes))
            {
                // Not cached (and no room left): the rest straight from the process.
                return done + Math.Max(0, _inner.Read(at, buffer[done..]));
            }
            int offset = (int)(at - page);
            if (offset >= bytes.Length)
            {
                break; // the page is readable only up to here
            }
            int count = Math.Min(bytes.Length - offset, buffer.Length - done);
            bytes.Slice(offset, count).CopyTo(buffer[done..]);
            done += count;
            if (bytes.Length < PageSize)
            {
                break;
            }
        }
        return done;
    }

    public bool Read<T>(ulong address, out T value) where T : unmanaged
    {
        Span<byte> bytes = stackalloc byte[System.Runtime.CompilerServices.Unsafe.SizeOf<T>()];
        if (Read(address, bytes) == bytes.Length)
        {
            value = MemoryMarshal.Read<T>(bytes);
            return true;
        }
        value = default;
        return false;
    }

    public T Read<T>(ulong address) where T : unmanaged => Read(address, out T value) ? value : default;

    public bool ReadPointer(ulong address, out ulong value)
    {
        Span<byte> bytes = stackalloc byte[sizeof(ulong)];
        int size = PointerSize;
        if (Read(address, bytes[..size]) == size)
        {
            value = size == 8 ? MemoryMarshal.Read<ulong>(bytes) : MemoryMarshal.Read<uint>(bytes);
            return true;
        }
        value = 0;
        return false;
    }

    public ulong ReadPointer(ulong address) => ReadPointer(address, out ulong value) ? value : 0;

    /// <summary>The readable bytes of the page at <paramref name="page"/> (empty if none), read now if not yet held; false when no more pages fit.</summary>
    private bool TryPage(ulong page, out ReadOnlySpan<byte> bytes)
    {
        if (page != _lastPage && !_pages.TryGetValue(page, out _last))
        {
            if (_pageCount == MaxPages)
            {
                bytes = default;
                return false;
            }
            int slab = _pageCount / PagesPerSlab;
            if (slab == _slabs.Count)
            {
                _slabs.Add(System.Buffers.ArrayPool<byte>.Shared.Rent(PagesPerSlab * PageSize));
            }
            int offset = _pageCount % PagesPerSlab * PageSize;
            int length = Math.Max(0, _inner.Read(page, _slabs[slab].AsSpan(offset, PageSize)));
            _pages[page] = _last = (slab, offset, length);
            _pageCount++;
        }
        _lastPage = page;
        bytes = _slabs[_last.Slab].AsSpan(_last.Offset, _last.Length);
        return true;
    }

    private void Clear()
    {
        foreach (byte[] slab in _slabs)
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(slab);
        }
        _slabs.Clear();
        _pages.Clear();
        _pageCount = 0;
        _lastPage = ulong.MaxValue;
    }

    public void Dispose()
    {
        Clear();
        if (_owner is not null)
        {
            _owner.Dispose();
        }
        else
        {
            (_inner as IDisposable)?.Dispose();
        }
    }
}
