using System.Diagnostics;

// Subjects for held resources. Lines marked "// @name" are looked up by the tests.
namespace Stackscope.Tests.Subjects;

public static class ResourceLines
{
    public static int Line(string marker) => SourceLines.Find(SourceLines.ThisFile(), marker);
}

public sealed class Lease(string name) : IDisposable, IAsyncDisposable
{
    public string Name { get; } = name;
    public bool Disposed { get; private set; }
    public void Dispose() => Disposed = true;
    public ValueTask DisposeAsync()
    {
        Disposed = true;
        return ValueTask.CompletedTask;
    }
}

/// <summary>A lock scope: disposing it releases the semaphore it entered.</summary>
public sealed class LockScope : IDisposable
{
    private readonly SemaphoreSlim _semaphore;
    private LockScope(SemaphoreSlim semaphore) => _semaphore = semaphore;

    public static async Task<LockScope> EnterAsync(SemaphoreSlim semaphore)
    {
        await semaphore.WaitAsync();
        return new LockScope(semaphore);
    }

    public void Dispose() => _semaphore.Release();
}

public static class Resources
{
    public static async Task UsingBlock(Task gate)
    {
        using (var lease = new Lease("block")) // @using-block
        {
            await gate;
        }
    }

    public static async Task UsingDeclarations(Task gate)
    {
        using var first = new Lease("first"); // @using-first
        using var second = new Lease("second"); // @using-second
        await gate;
    }

    public static async Task UsingExpression(Task gate)
    {
        using (new Lease("anonymous")) // @using-expression
        {
            await gate;
        }
    }

    public static async Task AwaitUsing(Task gate)
    {
        await using (var session = new Lease("session")) // @await-using
        {
            await gate;
        }
    }

    public static async Task NestedAndExited(Task first, Task second)
    {
        using (var outer = new Lease("outer")) // @nested-outer
        {
            using (var done = new Lease("done"))
            {
                await first;
            }
            await using var inner = new Lease("inner"); // @nested-inner
            await second; // @nested-await
        }
    }

    /// <summary>Two usings of one type in scopes that do not overlap: a Release build hoists both into one field.</summary>
    public static async Task SequentialScopes(Task first, Task second)
    {
        using (var done = new Lease("done"))
        {
            await first;
        }
        using (var outer = new Lease("outer")) // @reused-outer
        {
            await second; // @reused-await
        }
    }

    public static async Task HoldsLock(SemaphoreSlim semaphore, Task gate)
    {
        using (await LockScope.EnterAsync(semaphore)) // @lock-scope
        {
            await gate;
        }
    }

    public static async Task HoldsCancellation(Task gate)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(5)); // @cts
        await gate;
    }

    public static async Task HoldsActivity(Task gate)
    {
        using var activity = new Activity("checkout").Start(); // @activity
        await gate;
    }

    public static async Task<int> EnumeratesWhileAwaiting(Task items, Task body)
    {
        int sum = 0;
        await foreach (int n in Iterators.Numbers(items)) // @foreach-resource
        {
            await body; // @foreach-body
            sum += n;
        }
        return sum;
    }
}
