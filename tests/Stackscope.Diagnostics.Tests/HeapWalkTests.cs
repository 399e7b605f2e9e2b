using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Runtime;
using Stackscope.Diagnostics.Clr;

namespace Stackscope.Tests;

/// <summary>
/// The reader's own heap walk (straight from the target's memory, by the GC's object sizes) must find exactly the
/// objects ClrMD's careful enumeration finds (which, like the walk, steps over zeroed memory an allocation context the
/// runtime did not list leaves), in a live process and in a dump: every object, at the same address, of the same
/// method table, and hand the visitor only the method tables it wants.
/// </summary>
[Collection(nameof(ProcessCollection))]
public class HeapWalkTests
{
    private sealed class Recorder(Func<ulong, bool> wants) : HeapWalk.IVisitor
    {
        public List<(ulong Address, ulong Table)> Visited { get; } = new();

        public int Asked { get; private set; }

        public bool Wants(ulong methodTable)
        {
            Asked++;
            return wants(methodTable);
        }

        public void Visit(ulong address, ulong methodTable, ReadOnlySpan<byte> bytes)
        {
            // The visitor gets the object's own bytes: they begin with its method table.
            Assert.Equal(methodTable, BitConverter.ToUInt64(bytes) & ~3UL);
            Visited.Add((address, methodTable));
        }
    }

    private static void AssertSameObjects(DataTarget target)
    {
        using ClrRuntime runtime = target.ClrVersions[0].CreateRuntime();
        List<(ulong, ulong)> expected = runtime.Heap.EnumerateObjects(carefully: true).Select(o => (o.Address, o.Type!.MethodTable)).OrderBy(o => o.Item1).ToList();

        var all = new Recorder(_ => true);
        (long objects, int broken) = HeapWalk.Walk(runtime.Heap, target.DataReader, all, null, CancellationToken.None);

        Assert.Equal(0, broken);
        Assert.Equal(expected.Count, objects);
        Assert.Equal(expected, all.Visited);
        Assert.Equal(expected.Select(o => o.Item2).Distinct().Count(), all.Asked); // each method table asked about once

        // Only what is wanted is visited: the state machine boxes, 20,000 in the fixture.
        ulong[] boxes = expected.Select(o => o.Item2).Distinct()
            .Where(t => runtime.Heap.GetTypeByMethodTable(t)?.Name?.Contains("+AsyncStateMachineBox<", StringComparison.Ordinal) == true).ToArray();
        var some = new Recorder(t => boxes.Contains(t));
        HeapWalk.Walk(runtime.Heap, target.DataReader, some, null, CancellationToken.None);
        Assert.Equal(expected.Where(o => boxes.Contains(o.Item2)).ToList(), some.Visited);
        Assert.True(some.Visited.Count >= 20_000, $"{some.Visited.Count} boxes"); // megabytes of heap: many chunks
    }

    /// <summary>The target's memory with one range reading as zeros: what an allocation context the runtime does not list looks like.</summary>
    private sealed class ZeroedRange(IDataReader inner, ulong start, ulong end) : IDataReader
    {
        public string DisplayName => inner.DisplayName;
        public bool IsThreadSafe => inner.IsThreadSafe;
        public System.Runtime.InteropServices.OSPlatform TargetPlatform => inner.TargetPlatform;
        public System.Runtime.InteropServices.Architecture Architecture => inner.Architecture;
        public int ProcessId => inner.ProcessId;
        public int PointerSize => inner.PointerSize;
        public IEnumerable<ModuleInfo> EnumerateModules() => inner.EnumerateModules();
        public bool GetThreadContext(uint threadID, uint contextFlags, Span<byte> context) => inner.GetThreadContext(threadID, contextFlags, context);
        public void FlushCachedData() => inner.FlushCachedData();
        public bool Read<T>(ulong address, out T value) where T : unmanaged => inner.Read(address, out value);
        public T Read<T>(ulong address) where T : unmanaged => inner.Read<T>(address);
        public bool ReadPointer(ulong address, out ulong value) => inner.ReadPointer(address, out value);
        public ulong ReadPointer(ulong address) => inner.ReadPointer(address);

        public int Read(ulong address, Span<byte> buffer)
        {
            int read = inner.Read(address, buffer);
            for (ulong a = Math.Max(address, start); a < Math.Min(address + (ulong)read, end); a++)
            {
                buffer[(int)(a - address)] = 0;
            }
            return read;
        }
    }

    [Fact]
    public void Zeroed_memory_where_an_object_should_begin_is_stepped_over_not_the_end_of_the_walk()
    {
        using var fixture = new FixtureProcess("--chains 5000 --depth 4");
        using (DataTarget target = DataTarget.AttachToProcess(fixture.Id, suspend: true))
        {
            using ClrRuntime runtime = target.ClrVersions[0].CreateRuntime();
            List<ClrObject> all = runtime.Heap.EnumerateObjects().ToList();
            // A box in the middle of the heap, with its header and fields zeroed (the header of the next object too).
            ClrObject gone = all.Where(o => o.Type?.Name?.Contains("+AsyncStateMachineBox<", StringComparison.Ordinal) == true).ElementAt(10_000);
            ulong size = (gone.Size + 7) & ~7UL;
            var zeroed = new ZeroedRange(target.DataReader, gone.Address - 8, gone.Address + size);

            var recorder = new Recorder(_ => true);
            (_, int broken) = HeapWalk.Walk(runtime.Heap, zeroed, recorder, null, CancellationToken.None);

            Assert.Equal(0, broken);
            Assert.Equal(all.Where(o => o.Address != gone.Address).Select(o => (o.Address, o.Type!.MethodTable)).OrderBy(o => o.Item1), recorder.Visited);
        }
        fixture.Finish();
    }

    [Fact]
    public void The_walk_finds_every_object_ClrMD_finds_in_a_live_process()
    {
        using var fixture = new FixtureProcess("--chains 5000 --depth 4");
        using (DataTarget target = DataTarget.AttachToProcess(fixture.Id, suspend: true))
        {
            AssertSameObjects(target);
        }
        fixture.Finish();
    }

    [Fact]
    public void The_walk_finds_every_object_ClrMD_finds_in_a_dump()
    {
        using var fixture = new FixtureProcess("--chains 5000 --depth 4");
        string dump = Path.Combine(Path.GetTempPath(), $"stackscope-test-{Guid.NewGuid():N}.dmp");
        try
        {
            new DiagnosticsClient(fixture.Id).WriteDump(DumpType.WithHeap, dump);
            fixture.Finish();
            using DataTarget target = DataTarget.LoadDump(dump);
            AssertSameObjects(target);
        }
        finally
        {
            File.Delete(dump);
        }
    }
}
