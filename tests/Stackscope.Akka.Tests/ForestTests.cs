using Stackscope.Glue;

namespace Stackscope.Akka.Tests;

/// <summary>The Akka glue registers an unwrapper for <see cref="Task"/> (an Ask is a task): it must decline every other task.</summary>
[Collection("akka")]
public sealed class ForestTests
{
    private static async Task Outer(Task gate) => await Inner(gate);

    private static async Task Inner(Task gate) => await gate;

    [Fact]
    public async Task With_the_Akka_glue_loaded_a_thousand_identical_chains_are_one_group()
    {
        Assert.Contains(StackscopeGlue.Registered, static g => g.Contains("AkkaGlue", StringComparison.Ordinal));
        var gate = new TaskCompletionSource();
        List<Task> chains = Enumerable.Range(0, 1000).Select(_ => Outer(gate.Task)).ToList();

        StackForest forest = StackExtractor.ExtractAll(chains);

        StackGroup group = Assert.Single(forest.Groups);
        Assert.Equal(1000, group.Count);
        Assert.Equal(["Outer", "Inner"], group.Stack.Frames.Select(static f => f.Method!.Name));
        Assert.Equal("TaskCompletionSource.Task", group.Stack.Leaf!.Description);
        gate.SetResult();
        await Task.WhenAll(chains);
    }
}
