using System.Diagnostics;
using System.Reflection;
using System.Runtime.CompilerServices;
using Stackscope.Tests.Subjects;

namespace Stackscope.Tests;

/// <summary>Held resources; the suite runs built Debug and Release, where the compiler hoists and names them differently.</summary>
public class ResourceTests
{
    private static LogicalFrame SuspendedFrame(Task task) => StackExtractor.Extract(task).Frames[0];

    [Fact]
    public async Task Using_block_resource_is_listed_with_name_type_and_line()
    {
        var gate = new TaskCompletionSource();
        Task t = Resources.UsingBlock(gate.Task);

        HeldResource r = Assert.Single(SuspendedFrame(t).Resources);

        Assert.Equal("lease", r.Name);
        Assert.Equal("Lease", r.TypeName);
        Assert.False(r.IsAsync);
        Assert.Equal(ResourceLines.Line("using-block"), r.Location!.Line);
        gate.SetResult();
        await t;
    }

    [Fact]
    public async Task Several_using_declarations_are_listed_outermost_first()
    {
        var gate = new TaskCompletionSource();
        Task t = Resources.UsingDeclarations(gate.Task);

        LogicalFrame frame = SuspendedFrame(t);

        Assert.Equal(["first", "second"], frame.Resources.Select(r => r.Name));
        Assert.Equal([ResourceLines.Line("using-first"), ResourceLines.Line("using-second")], frame.Resources.Select(r => r.Location!.Line));
        gate.SetResult();
        await t;
    }

    [Fact]
    public async Task Using_an_expression_has_no_name_but_is_listed()
    {
        var gate = new TaskCompletionSource();
        Task t = Resources.UsingExpression(gate.Task);

        HeldResource r = Assert.Single(SuspendedFrame(t).Resources);

        Assert.Null(r.Name);
        Assert.Equal("Lease", r.TypeName);
        Assert.Equal(ResourceLines.Line("using-expression"), r.Location!.Line);
        gate.SetResult();
        await t;
    }

    [Fact]
    public async Task Await_using_is_listed_as_async()
    {
        var gate = new TaskCompletionSource();
        Task t = Resources.AwaitUsing(gate.Task);

        HeldResource r = Assert.Single(SuspendedFrame(t).Resources);

        Assert.Equal("session", r.Name);
        Assert.True(r.IsAsync);
        Assert.Equal(ResourceLines.Line("await-using"), r.Location!.Line);
        gate.SetResult();
        await t;
    }

    [Fact]
    public async Task Nested_resources_are_listed_and_exited_ones_are_absent()
    {
        var second = new TaskCompletionSource();
        Task t = Resources.NestedAndExited(Task.CompletedTask, second.Task); // "done" is disposed before the await on second

        LogicalFrame frame = SuspendedFrame(t);

        Assert.Equal(ResourceLines.Line("nested-await"), frame.Location!.Line);
        Assert.Equal(["outer", "inner"], frame.Resources.Select(r => r.Name));
        Assert.Equal([false, true], frame.Resources.Select(r => r.IsAsync));
        Assert.Equal([ResourceLines.Line("nested-outer"), ResourceLines.Line("nested-inner")], frame.Resources.Select(r => r.Location!.Line));
        second.SetResult();
        await t;
    }

    [Fact]
    public async Task A_field_reused_for_two_using_scopes_is_named_after_the_live_one()
    {
        // A Release build hoists "done" and "outer" into one field named after "done"; a Debug build gives each its own.
        Type stateMachine = typeof(Resources).GetMethod(nameof(Resources.SequentialScopes))!.GetCustomAttribute<AsyncStateMachineAttribute>()!.StateMachineType;
        string[] leaseFields = stateMachine.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic)
            .Where(f => f.FieldType == typeof(Lease)).Select(f => f.Name[..(f.Name.IndexOf('>') + 1)]).ToArray();
        bool optimized = typeof(Resources).Assembly.GetCustomAttribute<DebuggableAttribute>()?.IsJITOptimizerDisabled != true;
        Assert.Equal(optimized ? ["<done>"] : ["<done>", "<outer>"], leaseFields);

        var first = new TaskCompletionSource();
        var second = new TaskCompletionSource();
        Task t = Resources.SequentialScopes(first.Task, second.Task);
        Assert.Equal("done", Assert.Single(SuspendedFrame(t).Resources).Name);
        first.SetResult(); // "done" is disposed; "outer" takes its field

        LogicalFrame frame = SuspendedFrame(t);

        Assert.Equal(ResourceLines.Line("reused-await"), frame.Location!.Line);
        HeldResource outer = Assert.Single(frame.Resources);
        Assert.Equal("outer", outer.Name);
        Assert.Equal("Lease", outer.TypeName);
        Assert.Equal(ResourceLines.Line("reused-outer"), outer.Location!.Line);
        second.SetResult();
        await t;
    }

    [Fact]
    public async Task Known_kinds_are_described()
    {
        var gate = new TaskCompletionSource();
        var semaphore = new SemaphoreSlim(1, 1);
        Task locked = Resources.HoldsLock(semaphore, gate.Task);
        Task cancellable = Resources.HoldsCancellation(gate.Task);
        Task traced = Resources.HoldsActivity(gate.Task);

        HeldResource lockScope = Assert.Single(SuspendedFrame(locked).Resources);
        Assert.Equal("LockScope", lockScope.TypeName);
        Assert.Equal(ResourceLines.Line("lock-scope"), lockScope.Location!.Line);
        Assert.Equal("lock scope over SemaphoreSlim: 0 of 1 free, 0 waiting", lockScope.Description);

        HeldResource cts = Assert.Single(SuspendedFrame(cancellable).Resources);
        Assert.Equal("timeout", cts.Name);
        Assert.StartsWith("canceled: no, cancels in ", cts.Description);

        HeldResource activity = Assert.Single(SuspendedFrame(traced).Resources);
        Assert.Equal("activity", activity.Name);
        Assert.Matches("^Activity 'checkout' \\(trace [0-9a-f]{32}, span [0-9a-f]{16}\\)$", activity.Description);

        gate.SetResult();
        await Task.WhenAll(locked, cancellable, traced);
    }

    [Fact]
    public async Task A_resource_that_is_suspended_async_code_shows_its_stack()
    {
        var items = new TaskCompletionSource();
        var body = new TaskCompletionSource();
        Task<int> t = Resources.EnumeratesWhileAwaiting(items.Task, body.Task);

        LogicalStack stack = StackExtractor.Extract(t);

        LogicalFrame frame = Assert.Single(stack.Frames);
        Assert.Equal(ResourceLines.Line("foreach-body"), frame.Location!.Line);
        HeldResource enumerator = Assert.Single(frame.Resources);
        Assert.True(enumerator.IsAsync);
        Assert.Equal(ResourceLines.Line("foreach-resource"), enumerator.Location!.Line);
        LogicalFrame inner = Assert.Single(enumerator.InnerStack!.Frames);
        Assert.Equal("async IAsyncEnumerable<int> Iterators.Numbers(Task gate)", inner.DisplayName);
        Assert.Equal(1, inner.YieldNumber);
        Assert.Contains("◆ await using", stack.ToString());

        body.SetResult();
        items.SetResult();
        Assert.Equal(3, await t);
    }
}
