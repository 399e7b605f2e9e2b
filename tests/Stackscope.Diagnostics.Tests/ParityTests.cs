using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Diagnostics.NETCore.Client;
using Stackscope.Diagnostics;
using Xunit.Abstractions;

namespace Stackscope.Tests;

/// <summary>
/// Issue #17: one fixture process (tests/Stackscope.ParityFixture) with a rich set of suspended chains, extracted in its own
/// process and read from its dump, must give the same frames, lines, resources and leaves. Every difference that remains
/// is listed in <see cref="KnownDifferences"/>, and the test asserts the computed differences equal that list exactly: a new
/// difference fails it, and so does a listed one that has gone (remove it from the list). The live attach, which shares the
/// machine's clock with the target, must read exactly as the process itself did.
/// </summary>
[Collection(nameof(ProcessCollection))]
public sealed partial class ParityTests(ITestOutputHelper output)
{
    /// <summary>
    /// What a dump read still says differently from the in-process extraction, each with why (the README lists the same). Strings are "&lt;chain&gt;: &lt;what&gt;: in-process '...' / dump '...'", the chain named by its
    /// outermost method (see <see cref="Compare"/>). Shrink it as the reader improves.
    /// </summary>
    private static readonly string[] KnownDifferences =
    [
        // A dump has no clock: how long a CancellationTokenSource's deadline has left is unknown; what it was set for is said.
        "CancellationRoot: frame 1: resources: in-process [using CancellationTokenSource timeout at Program.cs:@cts 'canceled: no, cancels in <t> s'] / dump [using CancellationTokenSource timeout at Program.cs:@cts 'canceled: no, cancels <t> s after it was set (a dump has no clock: time left unknown)']",
        // The same for Task.Delay's timer.
        "DelayRoot: leaf: in-process 'Delay: Task.Delay: <t> s left' / dump 'Delay: Task.Delay: set for <t> s (a dump has no clock: time left unknown)'",
        // The same for WaitAsync's timeout.
        "WaitAsyncRoot: frames: in-process [WaitAsyncRoot, Task.WaitAsync (times out in <t> s), WaitedAsync] / dump [WaitAsyncRoot, Task.WaitAsync (timeout <t> s; a dump has no clock: time left unknown), WaitedAsync]",
    ];

    /// <summary>The await lines the in-process read must show per chain (outermost first; frames without a location skipped).</summary>
    private static readonly Dictionary<string, string[]> ExpectedLines = new()
    {
        ["LockScopeRoot"] = ["lock-held"],
        ["AwaitUsingRoot"] = ["await-using-body"],
        ["CancellationRoot"] = ["cts-body"],
        ["ActivityRoot"] = ["activity-body"],
        ["SemaphoreFirstRoot"] = ["semaphore-first"],
        ["SemaphoreSecondRoot"] = ["semaphore-second"],
        ["ChannelRoot"] = ["channel"],
        ["DelayRoot"] = ["delay"],
        ["WhenAllRoot"] = ["when-all"],
        ["WhenAllResultsRoot"] = ["when-all-results"],
        ["TaskRunRoot"] = ["task-run", "task-run", "run-body"],
        ["WaitAsyncRoot"] = ["wait-async", "waited"],
        ["IteratorAwaitRoot"] = ["iterator-await-foreach", "ticks-await"],
        ["IteratorYieldRoot"] = ["iterator-yield-body"],
        ["GenericRoot"] = ["generic", "repo-map"],
        ["CustomAwaiterRoot"] = ["custom-awaiter"],
        ["HiddenRoot"] = ["hidden-root", "hidden-inner"],
        // The task three callers await is a root of its own (with them as its awaited-by); their stacks end at it.
        ["FirstCallerRoot"] = ["caller-first"],
        ["SecondCallerRoot"] = ["caller-second"],
        ["ThirdCallerRoot"] = ["caller-third"],
        ["SharedWorkAsync"] = ["shared"],
        // Two methods awaiting each other (a deadlock): the ring is a root of its own, from the member whose name sorts first.
        ["CycleRoot"] = ["cycle-root", "cycle-tail"],
    };

    private static readonly TimeSpan ProcessBound = TimeSpan.FromSeconds(60);

    [Fact]
    public void In_process_and_out_of_process_reads_of_the_same_chains_agree_but_for_the_listed_differences()
    {
        var clock = Stopwatch.StartNew();
        string json = Path.Combine(Path.GetTempPath(), $"stackscope-parity-{Guid.NewGuid():N}.json");
        string dump = Path.Combine(Path.GetTempPath(), $"stackscope-parity-{Guid.NewGuid():N}.dmp");
        try
        {
            ProcessSnapshot fromDump, fromAttach;
            using (FixtureProcess fixture = ParityFixtureProcess.Start(json))
            {
                Bounded(() => new DiagnosticsClient(fixture.Id).WriteDump(DumpType.WithHeap, dump), "writing the fixture's dump");
                fromAttach = Bounded(() => ProcessInspector.Attach(fixture.Id), "attaching to the fixture");
                fixture.Finish();
            }
            fromDump = ProcessInspector.OpenDump(dump);
            // A walk up that reaches the depth limit says so, as in process (it ended silently out of process): the shared
            // task's callers are a frame each, so with a limit of one frame each of its three branches ends there.
            ProcessSnapshot shallow = ProcessInspector.OpenDump(dump, InspectOptions.Default with { MaxDepth = 1 });
            LogicalStack sharedShallow = Assert.Single(shallow.Forest.Groups, g => g.Stack.Frames is [{ DisplayName: var name }, ..] && name.Contains("SharedWorkAsync")).Stack;
            Assert.Equal(3, sharedShallow.Errors.Count(e => e.Message == "depth limit of 1 frames reached walking up"));
            Assert.True(sharedShallow.IsTruncated);
            List<Chain> inProcess = ReadInProcess(File.ReadAllText(json));
            // The task three callers await: in process its own stack (Extract), with the callers as awaited-by; out of process
            // the stack of the thread blocked on it, from its blocking-wait frame inward.
            LogicalStack sharedInProcess = LogicalStack.FromJson(File.ReadAllText(json + ".shared.json"));
            output.WriteLine($"fixture run, dump written and read, attach read: {clock.Elapsed.TotalSeconds:F1} s");

            List<string> differences = Compare(inProcess, Chains(fromDump.Forest), "dump");
            new StackComparer(differences, "in-process", "dump").Stacks(SharedWaiter, sharedInProcess, BlockedOn(fromDump, SharedWaiter));
            output.WriteLine($"{differences.Count} difference(s), in-process / dump, as C# strings:");
            foreach (string difference in differences)
            {
                output.WriteLine("    \"" + difference.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\",");
            }
            foreach (StackError error in fromDump.Errors.Concat(fromDump.Forest.Errors))
            {
                output.WriteLine("dump read error: " + error);
            }

            // The live read is the same reader over the same memory as the dump's, with a clock (the machine's, which the
            // target shares): it must say what the in-process read says, with no exception.
            List<string> liveDifferences = Compare(inProcess, Chains(fromAttach.Forest), "attach");
            new StackComparer(liveDifferences, "in-process", "attach").Stacks(SharedWaiter, sharedInProcess, BlockedOn(fromAttach, SharedWaiter));
            foreach (string difference in liveDifferences)
            {
                output.WriteLine("in-process / attach: " + difference);
            }

            // The in-process read is the reference: it must show the fixture's chains at their await lines.
            foreach ((string root, string[] markers) in ExpectedLines)
            {
                Chain chain = Assert.Single(inProcess, c => c.Key == root);
                Assert.Equal(markers.Select(ParityFixtureProcess.Line), chain.Stack.Frames.Where(f => f.Location is not null).Select(f => f.Location!.Line));
            }
            Assert.Equal(ExpectedLines.Keys.Order(), inProcess.Select(c => c.Key).Order());
            // The deadlocked ring ends where it reaches its first member again, on each side alike (the comparison above).
            Assert.StartsWith("cycle: async Task Chains.CycleRoot(", Assert.Single(Assert.Single(inProcess, c => c.Key == "CycleRoot").Stack.Errors).Message);
            Assert.Equal([ParityFixtureProcess.Line("shared")], sharedInProcess.Frames.Select(f => f.Location!.Line));
            // Its awaiters are three async callers and the thread blocked on it: the callers' leaf counts them as its list shows them.
            Assert.Equal(4, sharedInProcess.AwaitedBy.Count);
            Assert.Contains("awaited by 4 callers", Assert.Single(inProcess, c => c.Key == "FirstCallerRoot").Stack.Leaf!.Description);

            Assert.Equal("dump", fromDump.Source);
            Assert.Equal("attach", fromAttach.Source);
            Assert.Empty(liveDifferences);
            Assert.Equal(fromDump.Errors.Select(e => e.ToString()), fromAttach.Errors.Select(e => e.ToString()));

            string[] unexpected = differences.Except(KnownDifferences).ToArray(), gone = KnownDifferences.Except(differences).ToArray();
            Assert.True(unexpected.Length == 0 && gone.Length == 0,
                $"new differences (fix them, or list them with why):\n{string.Join("\n", unexpected)}\n" +
                $"listed differences that are gone (remove them from KnownDifferences):\n{string.Join("\n", gone)}");
            Assert.Equal(KnownDifferences, differences); // and in the same order
            output.WriteLine($"total: {clock.Elapsed.TotalSeconds:F1} s");
        }
        finally
        {
            File.Delete(json);
            File.Delete(json + ".shared.json");
            File.Delete(dump);
        }
    }

    /// <summary>The fixture's thread blocked (Task.Wait) on the task FirstCallerRoot, SecondCallerRoot and ThirdCallerRoot await.</summary>
    private const string SharedWaiter = "shared-waiter";

    /// <summary>
    /// The stack of what a thread of <paramref name="snapshot"/> is blocked on: its stack from the frame after its last
    /// blocking-wait frame, keeping the leaf, children and awaited-by (taken through JSON: a stack is built only by Stackscope).
    /// </summary>
    private static LogicalStack BlockedOn(ProcessSnapshot snapshot, string threadName)
    {
        ThreadStack thread = Assert.Single(snapshot.Threads, t => t.Name == threadName);
        int wait = thread.Stack.Frames.ToList().FindLastIndex(f => (f.Flags & FrameFlags.BlockingWait) != 0);
        Assert.True(wait >= 0, $"thread {threadName} has no blocking-wait frame: {thread.Stack}");
        var node = (JsonObject)JsonNode.Parse(thread.Stack.ToString(StackFormat.Json))!;
        var frames = node["frames"]!.AsArray();
        for (int i = 0; i <= wait; i++)
        {
            frames.RemoveAt(0);
        }
        return LogicalStack.FromJson(node.ToJsonString());
    }

    /// <summary>One root stack of a forest, named by its outermost method.</summary>
    private sealed record Chain(string Key, int Count, LogicalStack Stack);

    /// <summary>The in-process forest, as the fixture wrote it (schema stackscope/1), read back with <see cref="LogicalStack.FromJson"/>.</summary>
    private static List<Chain> ReadInProcess(string json)
    {
        using JsonDocument document = JsonDocument.Parse(json);
        JsonElement forest = document.RootElement.GetProperty("forest");
        Assert.Empty(forest.GetProperty("errors").EnumerateArray());
        var groups = forest.GetProperty("groups").EnumerateArray()
            .Select(g => new StackGroup(LogicalStack.FromJson(g.GetProperty("stack").GetRawText()), g.GetProperty("count").GetInt32()))
            .ToList();
        return Chains(new StackForest(groups, 0, fromTracking: true, []));
    }

    /// <summary>
    /// A forest's groups keyed by the metadata name of their outermost method (the fixture roots each chain at a distinctly named
    /// method of its Chains class), or by the leaf for a stack with no frames; a key met twice gets " #2", " #3" in the order read.
    /// </summary>
    private static List<Chain> Chains(StackForest forest)
    {
        var seen = new Dictionary<string, int>();
        var chains = new List<Chain>();
        foreach (StackGroup group in forest.Groups)
        {
            string key = KeyOf(group.Stack);
            int n = seen[key] = seen.GetValueOrDefault(key) + 1;
            chains.Add(new Chain(n == 1 ? key : $"{key} #{n}", group.Count, group.Stack));
        }
        return chains;
    }

    private static string KeyOf(LogicalStack stack) =>
        stack.Frames.Count > 0 ? FrameKey(stack.Frames[0]) : "(no frames, leaf " + Leaf(stack.Leaf) + ")";

    /// <summary>A frame's method name; a frame with no method (a combinator) by its display name, which may hold a timer's time left.</summary>
    private static string FrameKey(LogicalFrame frame) => frame.MethodName ?? Normalize(frame.DisplayName);

    /// <summary>
    /// The differences between two reads of the same forest, as stable one-line strings. Per chain: its count, its frames
    /// (aligned by method name), each frame's name, kind, state, await and yield numbers, file name and line, and resources
    /// (kind, type, variable, using line, description, the stack of one that is suspended code), the leaf, the errors, and
    /// recursively the children and awaited-by stacks.
    /// </summary>
    private static List<string> Compare(List<Chain> expected, List<Chain> actual, string other, string reference = "in-process")
    {
        var differences = new List<string>();
        var comparer = new StackComparer(differences, reference, other);
        var actualByKey = actual.ToDictionary(c => c.Key);
        foreach (Chain chain in expected.OrderBy(c => c.Key, StringComparer.Ordinal)) // the forests' group order is the registry's, not stable
        {
            if (!actualByKey.Remove(chain.Key, out Chain? found))
            {
                differences.Add($"{chain.Key}: chain: {reference} {Frames(chain.Stack)} x{chain.Count}, leaf '{Leaf(chain.Stack.Leaf)}' / {other} missing");
                continue;
            }
            if (chain.Count != found.Count)
            {
                differences.Add($"{chain.Key}: count: {reference} {chain.Count} / {other} {found.Count}");
            }
            comparer.Stacks(chain.Key, chain.Stack, found.Stack);
        }
        foreach (Chain extra in actual.Where(c => actualByKey.ContainsKey(c.Key)).OrderBy(c => c.Key, StringComparer.Ordinal))
        {
            differences.Add($"{extra.Key}: chain: {reference} missing / {other} {Frames(extra.Stack)} x{extra.Count}, leaf '{Leaf(extra.Stack.Leaf)}'");
        }
        return differences;
    }

    /// <summary>Compares two reads of one stack, adding a line per difference (see <see cref="Compare"/>).</summary>
    private sealed class StackComparer(List<string> differences, string reference, string other)
    {
        private void Differ(string path, string what, string expected, string actual)
        {
            if (expected != actual)
            {
                differences.Add($"{path}: {what}: {reference} {expected} / {other} {actual}");
            }
        }

        public void Stacks(string path, LogicalStack expected, LogicalStack actual)
        {
            // Frames aligned on their method names (longest common subsequence): a frame one read lacks is one difference,
            // not a shift of every frame after it.
            Differ(path, "frames", Frames(expected), Frames(actual));
            foreach ((int i, int j) in Align(expected.Frames.Select(FrameKey).ToList(), actual.Frames.Select(FrameKey).ToList()))
            {
                Frame($"{path}: frame {i + 1}", expected.Frames[i], actual.Frames[j]);
            }
            Differ(path, "leaf", Quote(Leaf(expected.Leaf)), Quote(Leaf(actual.Leaf)));
            Differ(path, "errors", List(expected.Errors.Select(e => e.Message)), List(actual.Errors.Select(e => e.Message)));
            Differ(path, "truncated", expected.IsTruncated.ToString(), actual.IsTruncated.ToString());
            Branches(path, "child", expected.Children, actual.Children);
            Branches(path, "awaited by", expected.AwaitedBy, actual.AwaitedBy);
        }

        private void Frame(string path, LogicalFrame expected, LogicalFrame actual)
        {
            Differ(path, "name", Quote(Normalize(expected.DisplayName)), Quote(Normalize(actual.DisplayName)));
            Differ(path, "kind", expected.Kind.ToString(), actual.Kind.ToString());
            Differ(path, "state", expected.State.ToString(), actual.State.ToString());
            Differ(path, "await", expected.AwaitNumber?.ToString() ?? "none", actual.AwaitNumber?.ToString() ?? "none");
            Differ(path, "yield", expected.YieldNumber?.ToString() ?? "none", actual.YieldNumber?.ToString() ?? "none");
            Differ(path, "line", Location(expected.Location), Location(actual.Location));
            Differ(path, "resources", List(expected.Resources.Select(Resource)), List(actual.Resources.Select(Resource)));
            if (expected.Resources.Count == actual.Resources.Count)
            {
                for (int r = 0; r < expected.Resources.Count; r++)
                {
                    if (expected.Resources[r].InnerStack is { } e && actual.Resources[r].InnerStack is { } a)
                    {
                        Stacks($"{path} resource {r + 1} stack", e, a);
                    }
                }
            }
        }

        /// <summary>
        /// Children or awaited-by stacks, sorted by their keys (outermost method, or leaf): the key lists when they differ,
        /// then the stacks whose keys align compared pairwise.
        /// </summary>
        private void Branches(string path, string what, IReadOnlyList<LogicalStack> expected, IReadOnlyList<LogicalStack> actual)
        {
            var e = expected.OrderBy(KeyOf, StringComparer.Ordinal).ThenBy(s => Leaf(s.Leaf), StringComparer.Ordinal).ToList();
            var a = actual.OrderBy(KeyOf, StringComparer.Ordinal).ThenBy(s => Leaf(s.Leaf), StringComparer.Ordinal).ToList();
            Differ(path, what, List(e.Select(KeyOf)), List(a.Select(KeyOf)));
            foreach ((int i, int j) in Align(e.Select(KeyOf).ToList(), a.Select(KeyOf).ToList()))
            {
                Stacks($"{path} / {what} {i + 1}", e[i], a[j]);
            }
        }
    }

    /// <summary>Index pairs of the longest common subsequence of two key lists.</summary>
    private static List<(int, int)> Align(List<string> x, List<string> y)
    {
        int[,] lcs = new int[x.Count + 1, y.Count + 1];
        for (int i = x.Count - 1; i >= 0; i--)
        {
            for (int j = y.Count - 1; j >= 0; j--)
            {
                lcs[i, j] = x[i] == y[j] ? lcs[i + 1, j + 1] + 1 : Math.Max(lcs[i + 1, j], lcs[i, j + 1]);
            }
        }
        var pairs = new List<(int, int)>();
        for (int i = 0, j = 0; i < x.Count && j < y.Count;)
        {
            if (x[i] == y[j])
            {
                pairs.Add((i++, j++));
            }
            else if (lcs[i + 1, j] >= lcs[i, j + 1])
            {
                i++;
            }
            else
            {
                j++;
            }
        }
        return pairs;
    }

    private static string Frames(LogicalStack stack) => List(stack.Frames.Select(FrameKey));

    private static string List(IEnumerable<string> items) => "[" + string.Join(", ", items) + "]";

    private static string Quote(string text) => "'" + text + "'";

    /// <summary>
    /// "Program.cs:@marker" for a line of the fixture marked "// @marker" (so the list survives edits of the fixture), else
    /// "File.cs:line". One-to-one: two different lines never read the same.
    /// </summary>
    private static string Location(SourceLocation? location) =>
        location is null ? "none"
        : location.FileName == "Program.cs" && ParityFixtureProcess.Markers.TryGetValue(location.Line, out string? marker) ? $"Program.cs:@{marker}"
        : $"{location.FileName}:{location.Line}";

    private static string Leaf(StackLeaf? leaf) => leaf is null ? "none" : $"{leaf.Kind}: {Normalize(leaf.Description)}";

    private static string Resource(HeldResource r) =>
        $"{(r.IsAsync ? "await using" : "using")} {r.TypeName} {r.Name ?? "_"} at {Location(r.Location)}" +
        (r.Description is null ? string.Empty : $" '{Normalize(r.Description)}'") +
        (r.InnerStack is null ? string.Empty : " +stack");

    /// <summary>
    /// What legitimately differs between two reads taken seconds apart: the time left on a timer (Task.Delay, WaitAsync's
    /// timeout, a CancellationTokenSource's deadline) is read against the clock of the moment, so "3600 s" in process is
    /// "3594 s" a few seconds later in the dump. Durations are compared by presence, not value: every "&lt;number&gt; s" reads
    /// "&lt;t&gt; s". A reader that shows a timer otherwise (a due time rather than time left) is a difference to list.
    /// </summary>
    private static string Normalize(string text) => Duration().Replace(text, "<t> s");

    [GeneratedRegex(@"\b\d+(\.\d+)? s\b")]
    private static partial Regex Duration();

    /// <summary>Every thread's id, name, state and stack, without the clock-dependent parts (see <see cref="Normalize"/>).</summary>
    private static string ThreadsJson(ProcessSnapshot snapshot)
    {
        using JsonDocument document = JsonDocument.Parse(snapshot.ToString(StackFormat.Json));
        return Normalize(document.RootElement.GetProperty("threads").GetRawText());
    }

    /// <summary>Runs a cross-process call with a bound: a hang fails the test instead of the suite (the fixture is then killed).</summary>
    private static T Bounded<T>(Func<T> call, string what)
    {
        Task<T> task = Task.Run(call);
        Assert.True(task.Wait(ProcessBound), $"{what} took longer than {ProcessBound.TotalSeconds:F0} s");
        return task.Result;
    }

    private static void Bounded(Action call, string what) => Bounded(() =>
    {
        call();
        return 0;
    }, what);

    /// <summary>The parity fixture's source: its "// @name" markers.</summary>
    private static class ParityFixtureProcess
    {
        private static readonly string Source =
            Path.GetFullPath(Path.Combine(Path.GetDirectoryName(SourceLines.ThisFile())!, "..", "Stackscope.ParityFixture", "Program.cs"));

        /// <summary>Starts tests/Stackscope.ParityFixture, writing its in-process read to <paramref name="jsonPath"/>.</summary>
        public static FixtureProcess Start(string jsonPath) => new($"\"{jsonPath}\"", "Stackscope.ParityFixture.dll");

        /// <summary>The line of a "// @name" marker in the parity fixture's source.</summary>
        public static int Line(string marker) => SourceLines.Find(Source, marker);

        /// <summary>Every "// @name" marker of the parity fixture's source, by line.</summary>
        public static readonly Dictionary<int, string> Markers = File.ReadAllLines(Source)
            .Select((text, index) => (Line: index + 1, Match: Regex.Match(text, @"// @([a-z0-9-]+)\s*$")))
            .Where(l => l.Match.Success)
            .ToDictionary(l => l.Line, l => l.Match.Groups[1].Value);
    }
}
