using Orleans.Serialization.Invocation;
using Stackscope.Glue;

[assembly: StackscopeGlue(typeof(Stackscope.Orleans.Glue.OrleansGlue))]

namespace Stackscope.Orleans.Glue;

/// <summary>
/// Teaches extraction about Orleans: a request awaiting another grain waits on the call's response completion source,
/// which is named as the grain call it stands for (<c>grain call IInterface.Method → grain</c>).
/// </summary>
/// <remarks>
/// The calls are known to a silo read (<see cref="Inspection.SiloScan"/>), which passes them in the extraction's items;
/// an extraction started elsewhere has none, and the glue declines (Stackscope describes the source as usual).
/// </remarks>
internal sealed class OrleansGlue : IStackscopeGlue
{
    /// <summary>The extraction item holding the silo's pending calls by the completion source each caller awaits.</summary>
    public static readonly object PendingCallsKey = new();

    public void Register(StackscopeGlueBuilder glue) => glue.Unwrap<IResponseCompletionSource>(UnwrapCall);

    private static Unwrapped? UnwrapCall(IResponseCompletionSource source, GlueContext context) =>
        context.Items.TryGetValue(PendingCallsKey, out object? calls) && calls is Dictionary<object, GrainCall> pending && pending.TryGetValue(source, out GrainCall? call)
            ? Unwrapped.Leaf($"grain call {call.Method} → {call.TargetGrain}{(call.TargetSilo is { } silo ? $" ({silo})" : "")}")
            : null;
}
