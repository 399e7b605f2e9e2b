using System.Text;
using Stackscope.Glue;
using Stackscope.Tests.Subjects;

namespace Stackscope.Tests;

/// <summary>The kit every glue shares: hook contexts, wait-for graphs, the stuck rule, text, HTML and JSON of a stack.</summary>
public class KitTests
{
    [Fact]
    public async Task A_hook_context_lives_for_one_extraction_and_carries_the_callers_items()
    {
        var first = new Parcel(1);
        var second = new Parcel(2);
        Task<int[]> both = Task.WhenAll(Parcel.Await(first), Parcel.Await(second));
        int before = Sorting.Created;

        LogicalStack stack = StackExtractor.Extract(both);
        LogicalStack seeded = StackExtractor.Extract(both, new ExtractOptions { GlueItems = new Dictionary<object, object> { [Sorting.RouteKey] = "route 66" } });

        // Two parcels met in one extraction share what the glue read once; the next extraction reads it anew.
        Assert.Equal(2, stack.Children.Count);
        Assert.All(stack.Children, c => Assert.Equal(GlueLines.Line("glue-parcel"), c.Frames[0].Location!.Line));
        Assert.Equal($"parcel #1 on the default route (sorting #{before + 1})", stack.Children[0].Leaf!.Description);
        Assert.Equal($"parcel #2 on the default route (sorting #{before + 1})", stack.Children[1].Leaf!.Description);
        Assert.Equal($"parcel #1 on route 66 (sorting #{before + 2})", seeded.Children[0].Leaf!.Description);
        Assert.Equal(before + 2, Sorting.Created);
        await Task.CompletedTask;
    }

    [Fact]
    public async Task An_unwrapper_registered_for_Task_describes_the_tasks_it_takes_and_declines_the_rest()
    {
        var marked = new TaskCompletionSource<int>();
        MarkedTasks.Mark(marked.Task, "a reply the test marked");
        var plain = new TaskCompletionSource<int>();

        LogicalStack taken = StackExtractor.Extract(Chains.Inner(marked.Task));
        LogicalStack declined = StackExtractor.Extract(Chains.Inner(plain.Task));

        Assert.Equal(LeafKind.Custom, taken.Leaf!.Kind);
        Assert.Equal("a reply the test marked", taken.Leaf.Description);
        Assert.Equal(LeafKind.TaskCompletionSource, declined.Leaf!.Kind);
        marked.SetResult(1);
        plain.SetResult(1);
        await Task.CompletedTask;
    }

    [Fact]
    public void The_wait_for_graph_reports_each_cycle_once_from_its_smallest_member()
    {
        var graph = new WaitForGraph<string>(static n => n);
        graph.AddEdge("b", "c");
        graph.AddEdge("c", "a");
        graph.AddEdge("a", "b");
        graph.AddEdge("x", "a");   // waits for the cycle, is not in it
        graph.AddEdge("d", "d");   // waits for itself
        graph.AddEdge("e", "f");   // no cycle

        IReadOnlyList<Deadlock> cycles = graph.FindCycles("call cycle");

        Assert.Equal(2, cycles.Count);
        Deadlock abc = Assert.Single(cycles, c => c.Cycle.Count == 3);
        Assert.Equal(["a", "b", "c"], abc.Cycle);
        Assert.Equal("a → b → c → a", abc.Path);
        Assert.Equal("DEADLOCK (call cycle): a → b → c → a", abc.ToString());
        Assert.Equal(["d"], Assert.Single(cycles, c => c.Cycle.Count == 1).Cycle);
    }

    [Fact]
    public void The_wait_for_graph_searches_a_long_chain_without_recursion()
    {
        var graph = new WaitForGraph<int>(static n => n.ToString("D6"));
        for (int i = 0; i < 200_000; i++)
        {
            graph.AddEdge(i, i + 1);
        }
        graph.AddEdge(200_000, 199_990);

        Deadlock cycle = Assert.Single(graph.FindCycles("Ask cycle"));

        Assert.Equal(11, cycle.Cycle.Count);
        Assert.Equal("199990", cycle.Cycle[0]);
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("2.5", 2500)]
    [InlineData(" 10 ", 10_000)]
    [InlineData("1e3", 1_000_000)]
    public void A_threshold_in_seconds_is_read(string text, long milliseconds)
    {
        Assert.True(StuckRule.TryParseSeconds([text], out TimeSpan threshold, out string? error));
        Assert.Null(error);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), threshold);
    }

    [Theory]
    [InlineData("abc", "threshold: not a number of seconds")]
    [InlineData("NaN", "threshold: not a number of seconds")]
    [InlineData("Infinity", "threshold: not a number of seconds")]
    [InlineData("-5", "threshold: must not be negative")]
    [InlineData("1e12", "threshold: at most 86400 seconds")]
    [InlineData("1e308", "threshold: at most 86400 seconds")]
    [InlineData("", "threshold: no value given")]
    public void A_bad_threshold_is_refused_with_a_reason(string text, string reason)
    {
        Assert.False(StuckRule.TryParseSeconds([text], out _, out string? error));
        Assert.Equal(reason, error);
    }

    [Fact]
    public void A_repeated_threshold_is_refused_not_concatenated()
    {
        Assert.False(StuckRule.TryParseSeconds(["1", "2"], out _, out string? error));
        Assert.Equal("threshold: give one value, not 2", error);
    }

    [Fact]
    public void Stuck_means_at_least_the_threshold()
    {
        Assert.True(StuckRule.IsStuck(TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5)));
        Assert.False(StuckRule.IsStuck(TimeSpan.FromSeconds(4.999), TimeSpan.FromSeconds(5)));
        Assert.Equal("≥ 5.0 s", StuckRule.Describe(TimeSpan.FromSeconds(5)));
    }

    [Theory]
    [InlineData(0.2505, "251 ms")]
    [InlineData(12.5, "12.5 s")]
    [InlineData(200, "3 min 20 s")]
    [InlineData(7500, "2 h 5 min")]
    [InlineData(-3, "0 ms")]
    public void Durations_read_the_same_in_every_glue(double seconds, string text) =>
        Assert.Equal(text, GlueText.Duration(TimeSpan.FromSeconds(seconds)));

    [Fact]
    public async Task A_stack_renders_indented_under_its_header()
    {
        var gate = new TaskCompletionSource();
        LogicalStack stack = StackExtractor.Extract(Chains.Outer(gate.Task));

        var text = new StringBuilder("job 1: Outer\n");
        GlueText.AppendStack(text, stack, "  ");
        GlueText.AppendErrors(text, ["the worker did not answer\nin time"], "  ");

        string[] lines = text.ToString().ReplaceLineEndings("\n").TrimEnd('\n').Split('\n');
        Assert.Equal("job 1: Outer", lines[0]);
        Assert.StartsWith($"  ├ async Task Chains.Outer(Task gate) in Subjects.cs:line {Where.Line("outer")}", lines[1]);
        Assert.StartsWith("  └ ⧗ TaskCompletionSource.Task", lines[^2]);
        Assert.Equal("  error: the worker did not answer in time", lines[^1]);
        gate.SetResult();
        await Task.CompletedTask;
    }

    [Fact]
    public async Task A_stack_renders_as_html_with_frames_resources_links_and_escaped_text()
    {
        var reply = new TaskCompletionSource<int>();
        var worker = new Worker("<b>storage</b>");
        var gate = new TaskCompletionSource();
        worker.Start(gate.Task);
        Task<int> outer = GlueSubjects.Outer(worker, reply.Task);
        var held = new TaskCompletionSource();
        Task holder = Resources.HoldsLock(new SemaphoreSlim(1, 1), held.Task);

        string html = GlueHtml.AppendStack(new StringBuilder(), StackExtractor.Extract(outer)).ToString();
        string resources = GlueHtml.AppendStack(new StringBuilder(), StackExtractor.Extract(holder)).ToString();

        Assert.Contains($"async Task&lt;int&gt; GlueSubjects.Outer(Worker worker, Task&lt;int&gt; reply) <span class=\"ss-loc\">in GlueSubjects.cs:line {GlueLines.Line("glue-outer")}</span> <span class=\"ss-state\">· await #1</span>", html);
        Assert.Contains("<details open><summary>↪ continues in worker &lt;b&gt;storage&lt;/b&gt;</summary>", html);
        Assert.Contains($"GlueSubjects.cs:line {GlueLines.Line("worker-job")}", html);
        Assert.DoesNotContain("<b>", html);
        Assert.Contains("<ul class=\"ss-resources\"><li>◆ using", resources);
        Assert.Contains("lock scope over SemaphoreSlim: 0 of 1 free", resources);
        Assert.Contains("<div class=\"ss-leaf\">waits on TaskCompletionSource.Task</div>", resources);
        Assert.Equal("&lt;script&gt;&amp;&quot;", GlueHtml.Encode("<script>&\""));
        Assert.StartsWith("<!DOCTYPE html>", GlueHtml.Page("stuck <jobs>", "<p>x</p>"));
        Assert.Contains("<title>Stackscope — stuck &lt;jobs&gt;</title>", GlueHtml.Page("stuck <jobs>", ""));

        reply.SetResult(1);
        gate.SetResult();
        held.SetResult();
        await Task.WhenAll(outer, holder);
    }

    [Fact]
    public async Task A_stack_read_back_from_its_json_renders_the_same()
    {
        var reply = new TaskCompletionSource<int>();
        var worker = new Worker("storage");
        var gate = new TaskCompletionSource();
        worker.Start(gate.Task);
        Task<int> outer = GlueSubjects.Outer(worker, reply.Task);
        var held = new TaskCompletionSource();
        Task holder = Resources.HoldsLock(new SemaphoreSlim(1, 1), held.Task);
        Task branches = Task.WhenAll(outer, holder);

        foreach (LogicalStack stack in new[] { StackExtractor.Extract(outer), StackExtractor.Extract(holder), StackExtractor.Extract(branches) })
        {
            LogicalStack back = LogicalStack.FromJson(stack.ToString(StackFormat.Json));
            Assert.Equal(stack.ToString(), back.ToString());
            Assert.Equal(stack.ToString(StackFormat.Json).Replace("\"source\": \"in-process\",", ""), back.ToString(StackFormat.Json).Replace("\"source\": \"in-process\",", ""));
            Assert.All(back.Frames, f => Assert.Null(f.Method));
        }

        reply.SetResult(1);
        gate.SetResult();
        held.SetResult();
        await branches;
    }

    [Theory]
    [InlineData("", "not valid JSON")]
    [InlineData("[1,2]", "a stack's JSON must be an object")]
    [InlineData("{\"schema\":\"other/9\"}", "unknown schema 'other/9' (expected stackscope/1)")]
    [InlineData("{\"frames\":[{\"name\":5}]}", "a field has the wrong type")]
    public void Json_that_is_not_a_stack_is_refused_with_a_reason(string json, string reason)
    {
        FormatException e = Assert.Throws<FormatException>(() => LogicalStack.FromJson(json));
        Assert.StartsWith(reason, e.Message);
    }

    [Fact]
    public async Task Glue_reads_the_method_and_hoisted_variables_behind_a_box()
    {
        var reply = new TaskCompletionSource<int>();
        var worker = new Worker("storage");
        Task<int> dispatch = GlueSubjects.Dispatch(worker, reply.Task);

        Assert.Equal(typeof(GlueSubjects).GetMethod(nameof(GlueSubjects.Dispatch)), TaskGraph.AsyncMethodOf(dispatch));
        Assert.Same(worker, TaskGraph.ReadHoisted(dispatch, "worker"));
        Assert.Null(TaskGraph.ReadHoisted(dispatch, "nothing"));
        Assert.Null(TaskGraph.AsyncMethodOf(reply.Task));
        Assert.Null(TaskGraph.ReadHoisted("not a box", "worker"));
        var source = new Stackscope.Tests.Shared.ManualSource();
        Assert.Same(dispatch, TaskGraph.OperationOf(dispatch));
        Assert.Same(source, TaskGraph.OperationOf(source.Task));
        Assert.Same(reply.Task, TaskGraph.OperationOf(new ValueTask<int>(reply.Task)));
        Assert.Same(reply.Task, TaskGraph.OperationOf(new ValueTask(reply.Task)));
        Assert.Null(TaskGraph.OperationOf(new ValueTask<int>(5)));
        Assert.Null(TaskGraph.OperationOf("not a task"));
        source.Complete(1);

        reply.SetResult(1);
        await dispatch;
    }
}

public class ValueTaskAsTaskTests
{
    [Fact]
    public async Task A_ValueTask_turned_into_a_Task_is_followed_into_its_source()
    {
        var first = new Stackscope.Tests.Shared.ManualSource();
        var second = new Stackscope.Tests.Shared.ManualSource();
        Task<int[]> both = Task.WhenAll(first.Task.AsTask(), second.Task.AsTask());

        LogicalStack stack = StackExtractor.Extract(both);

        Assert.Equal(2, stack.Children.Count);
        Assert.All(stack.Children, c => Assert.Equal("IValueTaskSource ManualSource", c.Leaf!.Description));
        first.Complete(1);
        second.Complete(2);
        int[] results = await both;
        Assert.Equal(new[] { 1, 2 }, results);
    }
}
