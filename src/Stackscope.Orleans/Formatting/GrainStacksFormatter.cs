using Stackscope.Glue;
using System.Text;

namespace Stackscope.Orleans.Formatting;

/// <summary>Renders <see cref="ClusterStacks"/> as text: deadlocks, then each stuck request followed into its callees.</summary>
internal static class GrainStacksFormatter
{
    public static string Format(ClusterStacks stacks)
    {
        var text = new StringBuilder();
        int activations = stacks.Silos.Sum(static s => s.ActivationCount);
        text.AppendLine($"Orleans cluster: {stacks.Silos.Count} silo(s), {activations} activations, {stacks.Stuck.Count} stuck request chain(s) (running ≥ {GlueText.Duration(stacks.Threshold)}), {stacks.Deadlocks.Count} deadlock(s)");
        foreach (GrainDeadlock deadlock in stacks.Deadlocks)
        {
            text.AppendLine($"DEADLOCK (call cycle): {deadlock}");
        }
        foreach (SiloStacks silo in stacks.Silos)
        {
            foreach (string error in silo.Errors)
            {
                text.AppendLine($"error on {silo.Silo}: {error}");
            }
        }
        foreach (GrainCallChain chain in stacks.Stuck)
        {
            text.AppendLine();
            Chain(text, chain, "");
        }
        return text.ToString();
    }

    public static string Headline(GrainRequest r) => r.State == GrainRequestState.Running
        ? $"{r.Grain} [{r.GrainType}] on {r.Silo}: {r.Method} running for {GlueText.Duration(r.Elapsed)}{(r.Caller is { } c ? $", called by {c}" : "")}"
        : $"{r.Grain} [{r.GrainType}] on {r.Silo}: {r.Method} QUEUED at position {r.QueuePosition}, waiting for {GlueText.Duration(r.Elapsed)}{(r.Caller is { } c2 ? $", called by {c2}" : "")}";

    private static void Chain(StringBuilder text, GrainCallChain chain, string indent)
    {
        GrainRequest r = chain.Request;
        text.AppendLine(indent + Headline(r));
        foreach (GrainFrame frame in r.Frames)
        {
            text.AppendLine($"{indent}  ├ {frame}");
        }
        if (r.AwaitedCall is { } call)
        {
            text.AppendLine($"{indent}  └ awaits {call.Method} on {call.TargetGrain}{(call.TargetSilo is { } s ? $" ({s})" : "")}");
        }
        else if (r.Leaf is { } leaf)
        {
            text.AppendLine($"{indent}  └ ⧗ {leaf}");
        }
        else if (r.State == GrainRequestState.Waiting)
        {
            text.AppendLine($"{indent}  └ behind the request running in {r.Grain}:");
        }
        if (r.Note is { } note)
        {
            text.AppendLine($"{indent}    {note}");
        }
        if (chain.CalleeNote is { } calleeNote)
        {
            text.AppendLine($"{indent}    ‼ {calleeNote}");
        }
        if (chain.Callee is { } callee)
        {
            Chain(text, callee, indent + "    ");
        }
    }
}
