using System.Runtime.CompilerServices;
using System.Text.Json;
using Microsoft.Diagnostics.NETCore.Client;
using Stackscope.Diagnostics;

namespace Stackscope.Tests;

[CollectionDefinition(nameof(ProcessCollection), DisableParallelization = true)]
public sealed class ProcessCollection;

/// <summary>
/// These tests attach to, dump, or ptrace processes (the in-process capture has createdump suspend every
/// thread of the test host): they run alone, not beside other tests that start or trace processes.
/// </summary>
[Collection(nameof(ProcessCollection))]
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
        Assert.Equal("void Program.Main(string[] args)+() => { }", frames[wait - 3].DisplayName);
        Assert.Equal(FixtureProcess.Line("blocked-wait"), frames[wait - 3].Location!.Line);
        Assert.Equal(["async Task Orders.PlaceAsync(Task gate)", "async Task Orders.ChargeAsync(Task gate)"], frames[(wait + 1)..].Select(f => f.DisplayName));
        Assert.Equal([place, charge], frames[(wait + 1)..].Select(f => f.Location!.Line));
        Assert.Equal(LeafKind.TaskCompletionSource, blocked.Stack.Leaf!.Kind);
        Assert.Contains(snapshot.Threads, t => t.Name == "parked-worker");

        // A thread inside a resumed async method continues into its logical callers, not the thread pool.
        ThreadStack stuck = Assert.Single(snapshot.Threads, t => t.Stack.Frames.Any(f => f.DisplayName.Contains("Jobs.StepAsync")));
        LogicalFrame[] logical = stuck.Stack.Frames.ToArray();
        int junction = Array.FindIndex(logical, f => (f.Flags & FrameFlags.AsyncJunction) != 0);
        Assert.True(junction == 1, stuck.Stack.ToString());
        Assert.Equal("async Task Jobs.RunAsync(Task resume, ManualResetEventSlim stuck, ManualResetEventSlim entered)", logical[0].DisplayName);
        Assert.Equal(FixtureProcess.Line("job-run"), logical[0].Location!.Line);
        Assert.Equal(FrameState.Suspended, logical[0].State);
        Assert.Equal(FixtureProcess.Line("job-stuck"), logical[1].Location!.Line);
        Assert.Equal(FrameState.Running, logical[1].State);
        Assert.DoesNotContain(logical, f => f.DisplayName.Contains("ThreadPoolWorkQueue"));

        StackGroup orders = snapshot.Forest.Groups[0];
        Assert.Equal(5, orders.Count);
        Assert.EndsWith("pending operation(s) (heap scan)", snapshot.Forest.ToString().Split('\n')[0].TrimEnd());
        Assert.Equal("heap scan", (string?)System.Text.Json.Nodes.JsonNode.Parse(snapshot.ToString(StackFormat.Json))!["forest"]!["origin"]);
        Assert.Equal([place, charge], orders.Stack.Frames.Select(f => f.Location!.Line));
        Assert.All(orders.Stack.Frames, f => Assert.Equal(1, f.AwaitNumber));

        // The value-task chain is linked through the pooling-free ValueTask box and its IValueTaskSource.
        StackGroup reading = Assert.Single(snapshot.Forest.Groups, g => g.Stack.Frames[0].DisplayName.Contains("ConsumeAsync"));
        Assert.Equal(["async Task<int> Readers.ConsumeAsync(ManualSource source)", "async ValueTask<int> Readers.ReadAsync(ManualSource source)"],
            reading.Stack.Frames.Select(f => f.DisplayName));
        Assert.Equal([FixtureProcess.Line("consume"), FixtureProcess.Line("read")], reading.Stack.Frames.Select(f => f.Location!.Line));

        // A pooling ValueTask box is an IValueTaskSource, not a task: its caller is linked only through the
        // continuation state of the box's ManualResetValueTaskSourceCore (what dumpasync does not follow).
        StackGroup pooled = Assert.Single(snapshot.Forest.Groups, g => g.Stack.Frames[0].DisplayName.Contains("ConsumePooledAsync"));
        Assert.Equal(["async Task<int> Readers.ConsumePooledAsync(ManualSource source)", "async ValueTask<int> Readers.PooledReadAsync(ManualSource source)"],
            pooled.Stack.Frames.Select(f => f.DisplayName));
        Assert.Equal([FixtureProcess.Line("consume-pooled"), FixtureProcess.Line("pooled-read")], pooled.Stack.Frames.Select(f => f.Location!.Line));
        Assert.Equal(LeafKind.ValueTaskSource, pooled.Stack.Leaf!.Kind);
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
        // The same frame read in process has exactly the same fields: only "source" tells them apart.
        JsonElement outOfProcess = json.RootElement.GetProperty("forest").GetProperty("groups")[0].GetProperty("stack").GetProperty("frames")[0];
        Assert.Equal("Stackscope.Fixture.Orders", outOfProcess.GetProperty("declaringType").GetString());
        Assert.Equal("PlaceAsync", outOfProcess.GetProperty("method").GetString());
        var gate = new TaskCompletionSource();
        using JsonDocument inProcess = JsonDocument.Parse(StackExtractor.Extract(Chains.OuterAsync(gate.Task)).ToString(StackFormat.Json));
        Assert.Equal(
            inProcess.RootElement.GetProperty("frames")[0].EnumerateObject().Select(p => p.Name),
            outOfProcess.EnumerateObject().Select(p => p.Name));
        gate.SetResult();
        Assert.Equal(5, json.RootElement.GetProperty("forest").GetProperty("groups")[0].GetProperty("count").GetInt32());
        fixture.Finish(); // the target resumes and completes normally after the read
    }

    [Fact]
    public void Attaching_to_a_direct_child_of_this_process_never_waits_forever()
    {
        // .NET's SIGCHLD handling here may collect a direct child's ptrace stops: ClrMD's own suspension then waited for them
        // forever (300 attaches hung at the 26th to 69th). Each attach is bounded: a hang fails the test, it does not hang it.
        using var fixture = new FixtureProcess(directChild: true);
        var options = InspectOptions.Default with { IncludeHeap = false };
        for (int i = 0; i < 150; i++)
        {
            ProcessSnapshot? snapshot = null;
            Exception? failure = null;
            var reader = new Thread(() =>
            {
                try
                {
                    snapshot = ProcessInspector.Attach(fixture.Id, options);
                }
                catch (Exception e)
                {
                    failure = e;
                }
            }) { IsBackground = true };
            reader.Start();
            if (!reader.Join(TimeSpan.FromSeconds(30)))
            {
                fixture.Dispose(); // ends the fixture by its id, which ends the wait
                Assert.Fail($"attach {i + 1} to a direct child did not return within 30 s");
            }
            Assert.Null(failure);
            Assert.Contains(snapshot!.Threads, t => t.ManagedThreadId == 1);
        }
        fixture.Finish(); // and it runs on normally after 150 stops and detaches
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
            Assert.Equal(fixture.Id, snapshot.ProcessId); // the core dump records the process it was written from
            Assert.StartsWith($"Process {fixture.Id} (dump): ", snapshot.ToString());
            using (JsonDocument json = JsonDocument.Parse(snapshot.ToString(StackFormat.Json)))
            {
                Assert.Equal(fixture.Id, json.RootElement.GetProperty("processId").GetInt32());
            }
            AssertFixture(snapshot);
        }
        finally
        {
            File.Delete(dump);
        }
    }

    [Fact]
    public async Task The_current_process_can_capture_all_its_threads_through_a_dump_of_itself()
    {
        var gate = new TaskCompletionSource();
        Task chain = Chains.OuterAsync(gate.Task);
        var blocked = new Thread(() => chain.Wait()) { Name = "in-process-blocked", IsBackground = true };
        blocked.Start();
        await Chains.WaitForBlockingWaiter(chain);

        ProcessSnapshot snapshot = ProcessInspector.CaptureCurrentProcess();

        Assert.Equal("in-process", snapshot.Source);
        Assert.Equal(Environment.ProcessId, snapshot.ProcessId);
        ThreadStack thread = Assert.Single(snapshot.Threads, t => t.Name == "in-process-blocked");
        Assert.Equal(["async Task Chains.OuterAsync(Task gate)", "async Task Chains.InnerAsync(Task gate)"],
            thread.Stack.Frames.SkipWhile(f => (f.Flags & FrameFlags.BlockingWait) == 0).Skip(1).Select(f => f.DisplayName));
        Assert.Contains(snapshot.Threads, t => t.Stack.Frames.Any(f => f.DisplayName.Contains(nameof(The_current_process_can_capture_all_its_threads_through_a_dump_of_itself))));
        Assert.Contains(snapshot.Forest.Groups, g => g.Stack.Frames.Any(f => f.DisplayName.Contains("Chains.OuterAsync")));

        gate.SetResult();
        blocked.Join();
    }

    [Fact]
    public void A_thread_is_named_by_its_own_object_not_by_a_dead_thread_s_left_on_the_heap()
    {
        // A managed thread id is given again once the thread that had it is finalized, while that thread's object can still
        // lie on the heap, garbage not yet swept: the heap walk meets both objects with the same id, and only the live
        // thread's object names the thread. (Before, the object met last did: in the suite's run the dead one's, which
        // unnamed a thread another test asserted the name of; in this test's own run the heap holds the dead one first.)
        for (int i = 0; i < 2; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers(); // other threads' ids given back first: the live thread gets the dead one's
        }
        (int deadId, WeakReference dead) = LeaveDeadThread("the-dead-one");
        GC.Collect(0);
        GC.WaitForPendingFinalizers(); // the dead thread is finalized: its id is free, its object not yet swept
        using var release = new ManualResetEventSlim();
        var live = new Thread(() => release.Wait()) { Name = "the-live-one", IsBackground = true };
        live.Start();
        try
        {
            Assert.Equal(deadId, live.ManagedThreadId);
            Assert.True(dead.IsAlive, "the dead thread's object was swept already: the test needs it on the heap");

            ProcessSnapshot snapshot = ProcessInspector.CaptureCurrentProcess();

            Assert.Equal("the-live-one", Assert.Single(snapshot.Threads, t => t.ManagedThreadId == deadId).Name);
        }
        finally
        {
            release.Set();
            live.Join();
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static (int Id, WeakReference Object) LeaveDeadThread(string name)
    {
        var thread = new Thread(() => { }) { Name = name, IsBackground = true };
        thread.Start();
        thread.Join();
        return (thread.ManagedThreadId, new WeakReference(thread, trackResurrection: true));
    }

    [Fact]
    public void Frame_strings_are_read_only_when_asked_and_name_what_a_blocked_frame_works_on()
    {
        using var parked = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        string resource = string.Concat("orders:", Guid.NewGuid().ToString("N")); // made at run time: no literal shares it
        var thread = new Thread(() => Park(resource, parked, release)) { IsBackground = true };
        thread.Start();
        parked.Wait();

        ProcessSnapshot without = ProcessInspector.CaptureCurrentProcess(InspectOptions.Default with { IncludeHeap = false });
        ProcessSnapshot with = ProcessInspector.CaptureCurrentProcess(InspectOptions.Default with { IncludeHeap = false, IncludeFrameStrings = true });
        release.Set();
        thread.Join();

        Assert.Empty(Assert.Single(without.Threads, t => t.ManagedThreadId == thread.ManagedThreadId).FrameStrings);
        ThreadStack read = Assert.Single(with.Threads, t => t.ManagedThreadId == thread.ManagedThreadId);
        FrameString held = Assert.Single(read.FrameStrings, s => s.Text == resource);
        Assert.Equal($"{typeof(InspectorTests).FullName}.{nameof(Park)}", held.Method);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static void Park(string resource, ManualResetEventSlim parked, ManualResetEventSlim release)
    {
        parked.Set();
        release.Wait();
        GC.KeepAlive(resource); // in use after the wait: the frame keeps it alive while parked
    }

    [Fact]
    public void A_read_canceled_during_the_heap_walk_detaches_and_leaves_the_target_running()
    {
        using var fixture = new FixtureProcess("--chains 2000 --depth 40"); // 80,000 boxes: a heap walk that reports progress
        using var cancel = new CancellationTokenSource();
        var progress = new CancelOnProgress(cancel); // what Ctrl-C does in dotnet-stackscope, mid-walk

        Assert.ThrowsAny<OperationCanceledException>(() => ProcessInspector.Attach(fixture.Id, new InspectOptions { Progress = progress }, cancel.Token));
        Assert.True(progress.Reports > 0, "the walk was canceled before it reported progress");

        // Detached and resumed: no thread of the target is stopped (state t/T in /proc), and it runs to completion.
        foreach (string task in Directory.GetDirectories($"/proc/{fixture.Id}/task"))
        {
            string state = File.ReadLines(Path.Combine(task, "status")).First(l => l.StartsWith("State:", StringComparison.Ordinal));
            Assert.DoesNotContain("stopped", state);
        }
        fixture.Finish();

        using var canceledBefore = new CancellationTokenSource();
        canceledBefore.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => ProcessInspector.Attach(Environment.ProcessId + 1, cancellation: canceledBefore.Token));
    }

    /// <summary>Cancels synchronously on the first progress report, in the middle of the heap walk.</summary>
    private sealed class CancelOnProgress(CancellationTokenSource cancel) : IProgress<long>
    {
        public int Reports { get; private set; }

        public void Report(long value)
        {
            Reports++;
            cancel.Cancel();
        }
    }

    [Fact]
    public void Failures_are_clear_errors()
    {
        Assert.Contains("cannot attach to itself", Assert.Throws<InspectionException>(() => ProcessInspector.Attach(Environment.ProcessId)).Message);
        Assert.Contains("could not open dump", Assert.Throws<InspectionException>(() => ProcessInspector.OpenDump("/nonexistent/core.1")).Message);
    }
}

internal static class Chains
{
    public static async Task OuterAsync(Task gate) => await InnerAsync(gate);

    public static async Task InnerAsync(Task gate) => await gate;

    /// <summary>Waits until a thread's Task.Wait has registered its blocking wait (it spins first): a condition, not a sleep.</summary>
    public static async Task WaitForBlockingWaiter(Task task)
    {
        var field = typeof(Task).GetField("m_continuationObject", System.Reflection.BindingFlags.Instance | System.Reflection.BindingFlags.NonPublic)!;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (field.GetValue(task) is not { } c || !(c.GetType().Name == "SetOnInvokeMres" || c is List<object?> l && l.Any(x => x?.GetType().Name == "SetOnInvokeMres")))
        {
            Assert.True(DateTime.UtcNow < deadline, "the thread never blocked on the task");
            await Task.Yield();
        }
    }
}
