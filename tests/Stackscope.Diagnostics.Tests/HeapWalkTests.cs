using Microsoft.Diagnostics.NETCore.Client;
using Microsoft.Diagnostics.Runtime;
using Stackscope.Diagnostics.Clr;

namespace Stackscope.Tests;

/// <summary>
/// The reader's own heap walk (straight from the target's memory, by the GC's object sizes) must find exactly the
/// objects ClrMD's enumeration finds, in a live process and in a dump: every object, at the same address, of the same
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
        List<(ulong, ulong)> expected = runtime.Heap.EnumerateObjects().Select(o => (o.Address, o.Type!.MethodTable)).OrderBy(o => o.Item1).ToList();

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
