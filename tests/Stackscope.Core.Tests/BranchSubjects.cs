using System.Threading.Channels;

// Subjects for branch points and leaves. Lines marked "// @name" are looked up by the tests.
namespace Stackscope.Tests.Subjects;

public static class BranchLines
{
    public static int Line(string marker) => SourceLines.Find(SourceLines.ThisFile(), marker);
}

public static class Branches
{
    public static async Task<int> Worker(int id, Task gate)
    {
        await gate; // @worker
        return id;
    }

    public static async Task<int[]> AllOfThree(Task gate1, Task gate2, Task gate3) =>
        await Task.WhenAll(Worker(1, gate1), Worker(2, gate2), Worker(3, gate3)); // @whenall-generic

    public static async Task<int[]> AllOf(Task[] gates) =>
        await Task.WhenAll(gates.Select((gate, i) => Worker(i + 1, gate))); // @whenall-of-many

    public static async Task AllUntyped(Task gate1, Task gate2, Task gate3)
    {
        await Task.WhenAll(Chains.Inner(gate1), Chains.Inner(gate2), Chains.Inner(gate3)); // @whenall-untyped
    }

    public static async Task<Task<int>> AnyOfTwo(Task gate1, Task gate2) =>
        await Task.WhenAny(Worker(1, gate1), Worker(2, gate2)); // @whenany

    public static async Task<Task<int>> AnyOfThree(Task gate) =>
        await Task.WhenAny(Worker(1, gate), Worker(2, gate), Worker(3, gate));

    public static async Task<int> WithTimeout(Task gate) =>
        await Worker(7, gate).WaitAsync(TimeSpan.FromMinutes(10)); // @waitasync

    public static async Task ForEachInParallel(Task gate) =>
        await Parallel.ForEachAsync(new[] { 1, 2 }, async (i, ct) => await gate); // @foreach-parallel

    public static async Task ForEachOfAsyncSourceInParallel(Task gate) =>
        await Parallel.ForEachAsync(Two(), async (i, ct) => await gate); // @foreach-parallel-async-source

    private static async IAsyncEnumerable<int> Two()
    {
        yield return 1;
        yield return 2;
    }

    public static async Task RunsBlocking(ManualResetEventSlim release) =>
        await Task.Run(() => release.Wait()); // @task-run

    public static async Task RunsAsyncDelegate(Task gate) =>
        await Task.Run(async () => await Worker(9, gate)); // @task-run-async

    public static async Task StartsNew(ManualResetEventSlim release) =>
        await Task.Factory.StartNew(() => release.Wait(), TaskCreationOptions.LongRunning);

    public static async Task Delays() => await Task.Delay(TimeSpan.FromMinutes(5));

    public static async Task WaitsForLock(SemaphoreSlim semaphore) => await semaphore.WaitAsync(); // @semaphore-wait

    public static async Task<int> Reads(ChannelReader<int> reader) => await reader.ReadAsync(); // @channel-read

    public static async Task Writes(ChannelWriter<int> writer) => await writer.WriteAsync(2); // @channel-write

    public static async Task Ticks(PeriodicTimer timer) => await timer.WaitForNextTickAsync(); // @timer
}
