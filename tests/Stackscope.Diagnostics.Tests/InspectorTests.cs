using System.Text.Json;
using Microsoft.Diagnostics.NETCore.Client;
using Stackscope.Diagnostics;

namespace Stackscope.Tests;

public class InspectorTests
{
    private static void AssertFixture(ProcessSnapshot snapshot)
    {
        int place = FixtureProcess.Line("place"), charge = FixtureProcess.Line("charge");

        ThreadStack blocked = Assert.Single(snapshot.Threads, t => t.Name == "blocked-worker");
        Assert.Contains("Background", blocked.State);
        LogicalFrame[] frames = blocked.Stack.Frames.ToArray();
        int wait = Array.FindIndex(frames, f => (f.Flags & FrameFlags.BlockingWait) != 0);
        Assert.True(wait > 0, blocked.Stack.ToString());
        Assert.Equal("void Program.Main()+() => { }", frames[wait - 3].DisplayName);
        Assert.Equal(FixtureProcess.Line("blocked-wait"), frames[wait - 3].Location!.Line);
        Assert.Equal(["async Task Orders.PlaceAsync(Task gate)", "async Task Orders.ChargeAsync(Task gate)"], frames[(wait + 1)..].Select(f => f.DisplayName));
        Assert.Equal([place, charge], frames[(wait + 1)..].Select(f => f.Location!.Line));
        Assert.Equal(LeafKind.TaskCompletionSource, blocked.Stack.Leaf!.Kind);
        Assert.Contains(snapshot.Threads, t => t.Name == "parked-worker");

        StackGroup orders = snapshot.Forest.Groups[0];
        Assert.Equal(5, orders.Count);
        Assert.Equal([place, charge], orders.Stack.Frames.Select(f => f.Location!.Line));
        Assert.All(orders.Stack.Frames, f => Assert.Equal(1, f.AwaitNumber));

        // The value-task chain is linked through the pooling-free ValueTask box and its IValueTaskSource.
        StackGroup reading = Assert.Single(snapshot.Forest.Groups, g => g.Stack.Frames[0].DisplayName.Contains("ConsumeAsync"));
        Assert.Equal(["async Task<int> Readers.ConsumeAsync(ManualSource source)", "async ValueTask<int> Readers.ReadAsync(ManualSource source)"],
            reading.Stack.Frames.Select(f => f.DisplayName));
        Assert.Equal([FixtureProcess.Line("consume"), FixtureProcess.Line("read")], reading.Stack.Frames.Select(f => f.Location!.Line));
        Assert.Empty(snapshot.Errors);
    }

    [Fact]
    public void Attaching_to_a_child_process_reads_threads_chains_lines_and_groups()
    {
        using var fixture = new FixtureProcess();

        ProcessSnapshot snapshot = ProcessInspector.Attach(fixture.Id);

        Assert.Equal("attach", snapshot.Source);
        Assert.Equal(fixture.Id, snapshot.ProcessId);
        AssertFixture(snapshot);
        using JsonDocument json = JsonDocument.Parse(snapshot.ToString(StackFormat.Json));
        Assert.Equal("attach", json.RootElement.GetProperty("source").GetString());
        Assert.Equal(5, json.RootElement.GetProperty("forest").GetProperty("groups")[0].GetProperty("count").GetInt32());
        fixture.Finish(); // the target resumes and completes normally after the read
    }

    [Fact]
    public void A_core_dump_reads_the_same_as_the_live_process()
    {
        using var fixture = new FixtureProcess();
        string dump = Path.Combine(Path.GetTempPath(), $"stackscope-test-{Guid.NewGuid():N}.dmp");
        try
        {
            new DiagnosticsClient(fixture.Id).WriteDump(DumpType.WithHeap, dump);
            fixture.Finish();

            ProcessSnapshot snapshot = ProcessInspector.OpenDump(dump);

            Assert.Equal("dump", snapshot.Source);
            AssertFixture(snapshot);
        }
        finally
        {
            File.Delete(dump);
        }
    }

    [Fact]
    public void Failures_are_clear_errors()
    {
        Assert.Contains("cannot attach to itself", Assert.Throws<InspectionException>(() => ProcessInspector.Attach(Environment.ProcessId)).Message);
        Assert.Contains("could not open dump", Assert.Throws<InspectionException>(() => ProcessInspector.OpenDump("/nonexistent/core.1")).Message);
    }
}
