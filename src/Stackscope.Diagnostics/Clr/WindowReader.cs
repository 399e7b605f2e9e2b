using System.Buffers.Binary;
using Microsoft.Diagnostics.Runtime;

namespace Stackscope.Diagnostics.Clr;

/// <summary>
/// Reads target memory through one cached window. Reading a live process costs a system call per read;
/// a heap walk visits objects in address order, so reading each object's fields through a 64 KiB window
/// turns thousands of reads into one.
/// </summary>
internal sealed class WindowReader(IDataReader reader)
{
    private const int WindowSize = 64 * 1024;
    private readonly byte[] _buffer = new byte[WindowSize];
    private ulong _start;
    private int _length;

    public ulong ReadPointer(ulong address) =>
        Ensure(address, sizeof(ulong)) ? BinaryPrimitives.ReadUInt64LittleEndian(_buffer.AsSpan((int)(address - _start))) : 0;

    public int ReadInt32(ulong address) =>
        Ensure(address, sizeof(int)) ? BinaryPrimitives.ReadInt32LittleEndian(_buffer.AsSpan((int)(address - _start))) : 0;

    private bool Ensure(ulong address, int size)
    {
        if (address >= _start && address + (ulong)size <= _start + (ulong)_length)
        {
            return true;
        }
        _start = address;
        _length = reader.Read(address, _buffer);
        return _length >= size;
    }
}
