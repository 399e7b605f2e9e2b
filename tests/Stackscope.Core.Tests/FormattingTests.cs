using System.Text.Json;
using Stackscope.Tests.Subjects;

namespace Stackscope.Tests;

public class FormattingTests
{
    [Fact]
    public async Task All_formats_render_the_same_stack()
    {
        var gate = new TaskCompletionSource();
        Task chain = Chains.Outer(gate.Task);
        LogicalStack stack = StackExtractor.Extract(chain);

        string tree = stack.ToString(StackFormat.Tree);
        Assert.Equal(
            $"""
            ├ async Task Chains.Outer(Task gate) in Subjects.cs:line {Where.Line("outer")} · await #1
            ├ async Task Chains.Middle(Task gate) in Subjects.cs:line {Where.Line("middle")} · await #1
            ├ async Task Chains.Inner(Task gate) in Subjects.cs:line {Where.Line("inner")} · await #1
            └ ⧗ TaskCompletionSource.Task

            """.ReplaceLineEndings(), tree);

        string ascii = stack.ToString(StackFormat.Ascii);
        Assert.All(ascii, c => Assert.True(c < 128, $"non-ASCII character '{c}'"));
        Assert.Contains("`- (waiting) TaskCompletionSource.Task", ascii);

        string[] flat = stack.ToString(StackFormat.Flat).Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        string file = stack.Frames[0].Location!.FilePath;
        Assert.Equal(
            [
                "   waiting on TaskCompletionSource.Task",
                $"   at async Task Chains.Inner(Task gate) in {file}:line {Where.Line("inner")} [await #1]",
                $"   at async Task Chains.Middle(Task gate) in {file}:line {Where.Line("middle")} [await #1]",
                $"   at async Task Chains.Outer(Task gate) in {file}:line {Where.Line("outer")} [await #1]",
            ],
            flat);

        using JsonDocument json = JsonDocument.Parse(stack.ToString(StackFormat.Json));
        JsonElement root = json.RootElement;
        Assert.Equal("stackscope/1", root.GetProperty("schema").GetString());
        Assert.Equal("in-process", root.GetProperty("source").GetString());
        JsonElement[] frames = root.GetProperty("frames").EnumerateArray().ToArray();
        Assert.Equal(3, frames.Length);
        Assert.Equal("async Task Chains.Outer(Task gate)", frames[0].GetProperty("name").GetString());
        Assert.Equal("async", frames[0].GetProperty("kind").GetString());
        Assert.Equal("suspended", frames[0].GetProperty("state").GetString());
        Assert.Equal(1, frames[0].GetProperty("await").GetInt32());
        Assert.Equal(Where.Line("outer"), frames[0].GetProperty("line").GetInt32());
        Assert.Equal("Stackscope.Tests.Subjects.Chains", frames[0].GetProperty("declaringType").GetString());
        Assert.Equal(["root"], frames[0].GetProperty("flags").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal("taskCompletionSource", root.GetProperty("leaf").GetProperty("kind").GetString());
        Assert.Empty(root.GetProperty("awaitedBy").EnumerateArray());
        Assert.False(root.GetProperty("truncated").GetBoolean());

        gate.SetResult();
        await chain;
    }

    [Fact]
    public async Task Ascii_escapes_every_character_outside_ASCII()
    {
        var gate = new TaskCompletionSource();
        Task t = Café.等待Async(gate.Task);
        LogicalStack stack = StackExtractor.Extract(t);
        StackForest forest = StackExtractor.ExtractAll([t]);
        var snapshot = new ProcessSnapshot("in-process", 1, [new ThreadStack(1, 2, "Wörker", "Running", stack)], forest, []);

        Assert.Equal("async Task Café.等待Async(Task gate)", stack.Frames[0].DisplayName);
        Assert.Contains("Café.等待Async", stack.ToString(StackFormat.Tree)); // only Ascii escapes
        string ascii = stack.ToString(StackFormat.Ascii);
        Assert.Equal(
            $"""
            |- async Task Caf\u00E9.\u7B49\u5F85Async(Task gate) in Subjects.cs:line {Where.Line("non-ascii")} - await #1
            `- (waiting) TaskCompletionSource.Task

            """.ReplaceLineEndings(), ascii);
        foreach (string text in new[] { ascii, forest.ToString(StackFormat.Ascii), snapshot.ToString(StackFormat.Ascii) })
        {
            Assert.All(text, c => Assert.True(c < 128, $"non-ASCII character '{c}' in:\n{text}"));
        }
        Assert.Contains("== 1 x ==", forest.ToString(StackFormat.Ascii));
        Assert.Contains("Caf\\u00E9.\\u7B49\\u5F85Async", forest.ToString(StackFormat.Ascii));
        Assert.Contains("\"W\\u00F6rker\"", snapshot.ToString(StackFormat.Ascii));
        gate.SetResult();
        await t;
    }

    [Fact]
    public void A_snapshot_without_a_known_process_id_leaves_it_out_of_text_and_json()
    {
        var empty = new StackForest([], 0, fromTracking: false, []);
        var known = new ProcessSnapshot("dump", 4242, [], empty, []);
        var unknown = new ProcessSnapshot("dump", 0, [], empty, []);

        Assert.StartsWith("Process 4242 (dump): 0 managed thread(s)", known.ToString());
        Assert.StartsWith("Process (dump): 0 managed thread(s)", unknown.ToString());
        Assert.StartsWith("Process (dump): 0 managed thread(s)", unknown.ToString(StackFormat.Ascii));
        using JsonDocument knownJson = JsonDocument.Parse(known.ToString(StackFormat.Json));
        using JsonDocument unknownJson = JsonDocument.Parse(unknown.ToString(StackFormat.Json));
        Assert.Equal(4242, knownJson.RootElement.GetProperty("processId").GetInt32());
        Assert.False(unknownJson.RootElement.TryGetProperty("processId", out _));
        Assert.Equal("dump", unknownJson.RootElement.GetProperty("source").GetString());
    }
}
