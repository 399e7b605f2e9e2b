using System.Collections.Concurrent;

namespace Stackscope.Tests;

/// <summary>
/// A suspension point a test in another process controls, per key: code awaiting it makes this process print
/// "entered &lt;key&gt;" (once the current turn has ended, so the awaiting request or handler is suspended there);
/// "release &lt;key&gt;" on stdin completes it; "abandon &lt;key&gt;" cancels the waits given <see cref="Abandoned"/>. A key can be
/// released before it is entered. Linked into the node programs the multi-process tests start (the Orleans silo, the Akka
/// node), which read their stdin with <see cref="Command"/>.
/// </summary>
public static class Gate
{
    private static readonly ConcurrentDictionary<string, Entry> s_gates = new();

    /// <summary>The task that completes when the test releases <paramref name="key"/>.</summary>
    public static Task<string> Released(string key) => For(key).Release.Task;

    /// <summary>Cancelled when the test abandons <paramref name="key"/> (to break a deadlock).</summary>
    public static CancellationToken Abandoned(string key) => For(key).Abandon.Token;

    /// <summary>Awaits the gate: prints "entered <paramref name="key"/>" and completes on "release <paramref name="key"/>".</summary>
    public static Task<string> Enter(string key) => Entering(key, Released(key));

    /// <summary>
    /// Says that the caller is about to await <paramref name="awaited"/>: "entered <paramref name="key"/>" is printed after
    /// the current turn, on the caller's own scheduler (a grain activation's or an actor's, which run one turn at a time),
    /// so by then the caller is suspended on its await.
    /// </summary>
    public static Task<T> Entering<T>(string key, Task<T> awaited)
    {
        _ = Task.Factory.StartNew(() => Console.Out.WriteLine("entered " + key), CancellationToken.None, TaskCreationOptions.None, TaskScheduler.Current);
        return awaited;
    }

    public static void Release(string key) => For(key).Release.TrySetResult("released");

    public static void Abandon(string key) => For(key).Abandon.Cancel();

    /// <summary>Releases every gate entered or released so far (a node stopping, or a test cleaning up).</summary>
    public static void ReleaseAll()
    {
        foreach (Entry entry in s_gates.Values)
        {
            entry.Release.TrySetResult("released all");
        }
    }

    /// <summary>Carries out a gate command read from stdin ("release &lt;key&gt;", "abandon &lt;key&gt;", "release-all"); false if <paramref name="line"/> is none.</summary>
    public static bool Command(string line)
    {
        if (line == "release-all")
        {
            ReleaseAll();
        }
        else if (line.StartsWith("release ", StringComparison.Ordinal))
        {
            Release(line["release ".Length..]);
        }
        else if (line.StartsWith("abandon ", StringComparison.Ordinal))
        {
            Abandon(line["abandon ".Length..]);
        }
        else
        {
            return false;
        }
        return true;
    }

    private static Entry For(string key) => s_gates.GetOrAdd(key, static _ => new Entry());

    private sealed class Entry
    {
        public TaskCompletionSource<string> Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenSource Abandon { get; } = new();
    }
}
