using Stackscope.Tests.Subjects;

namespace Stackscope.Tests;

public class SafetyTests
{
    [Fact]
    public async Task Extraction_racing_with_completion_never_throws()
    {
        const int iterations = 2000;
        int extractions = 0, suspendedSeen = 0;
        for (int i = 0; i < iterations; i++)
        {
            var gate = new TaskCompletionSource();
            Task chain = Chains.Outer(gate.Task);
            using var start = new ManualResetEventSlim();
            Task completer = Task.Run(() =>
            {
                start.Wait();
                gate.SetResult(); // resumes all three frames on the pool thread while we read them
            });
            start.Set();
            for (int k = 0; k < 200 && !chain.IsCompleted; k++)
            {
                LogicalStack down = StackExtractor.Extract(chain);
                LogicalStack up = StackExtractor.Extract(gate.Task);
                _ = down.ToString(StackFormat.Json);
                _ = up.ToString(StackFormat.Flat);
                extractions += 2;
                Assert.All(down.Frames, f => Assert.NotNull(f.DisplayName));
                Assert.True(down.Frames.Count <= 3);
                if (down.Frames.Count == 3 && down.Frames.All(f => f.State == FrameState.Suspended))
                {
                    suspendedSeen++;
                }
            }
            await completer;
            await chain;
            LogicalStack after = StackExtractor.Extract(chain);
            Assert.Equal(FrameState.Completed, Assert.Single(after.Frames).State);
        }
        Assert.True(extractions >= 2 * iterations);
        Assert.True(suspendedSeen > 0);
    }

    [Fact]
    public void Anything_can_be_passed_and_nothing_throws()
    {
        Assert.Equal(LeafKind.Unknown, StackExtractor.Extract(new object()).Leaf!.Kind);
        Assert.Empty(StackExtractor.Extract((object?)null).Frames);
        Assert.Equal(LeafKind.Completed, StackExtractor.Extract(new ValueTask<int>(5)).Leaf!.Kind);
        Assert.Equal(LeafKind.Completed, StackExtractor.Extract((object)ValueTask.CompletedTask).Leaf!.Kind);
        Assert.Equal(LeafKind.Completed, StackExtractor.Extract(Task.CompletedTask).Leaf!.Kind);
    }
}
