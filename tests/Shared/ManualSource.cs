using System.Threading.Tasks.Sources;

namespace Stackscope.Tests.Shared;

/// <summary>
/// An IValueTaskSource completed by hand, built on ManualResetValueTaskSourceCore: linked into the test
/// subjects and the out-of-process fixture, which must not depend on each other.
/// </summary>
public sealed class ManualSource : IValueTaskSource<int>
{
    private ManualResetValueTaskSourceCore<int> _core;

    public ValueTask<int> Task => new(this, _core.Version);
    public void Complete(int value) => _core.SetResult(value);
    public int GetResult(short token) => _core.GetResult(token);
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
