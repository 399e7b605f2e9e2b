using System.Text;
using Stackscope.Glue;

namespace Stackscope.Orleans.Formatting;

/// <summary>Renders <see cref="ClusterStacks"/> as text: deadlocks, errors, then each stuck request followed into what it waits for.</summary>
internal static class GrainStacksFormatter
{
    public static string Format(ClusterStacks stacks)
    {
        var text = new StringBuilder();
        text.AppendLine(Summary(stacks));
        foreach (Deadlock deadlock in stacks.Deadlocks)
        {
            text.AppendLine(deadlock.ToString());
        }
        GlueText.AppendErrors(text, Errors(stacks));
        foreach (GrainCallChain chain in stacks.Stuck)
        {
            text.AppendLine();
            Chain(text, chain, "");
        }
        return text.ToString();
    }

    /// <summary>The cluster's errors, then each silo's, a silo that did not answer said so first.</summary>
    public static IEnumerable<string> Errors(ClusterStacks stacks) => stacks.Errors.Concat(stacks.Silos.SelectMany(static s =>
        s.Answered ? s.Errors.Select(e => $"{s.Silo}: {e}") : [$"{s.Silo} ({s.Address}): NO ANSWER, {string.Join("; ", s.Errors)}"]));

    public static string Summary(ClusterStacks stacks) =>
        $"Orleans cluster: {stacks.Silos.Count} silo(s){(stacks.Silos.All(static s => s.Answered) ? "" : $", {stacks.Silos.Count(static s => s.Answered)} answered")}, {stacks.Silos.Sum(static s => s.ActivationCount)} activations, {stacks.Stuck.Count} stuck request chain(s) (running {StuckRule.Describe(stacks.Threshold)}), {stacks.Deadlocks.Count} deadlock(s)";

    public static string Headline(GrainRequest r) =>
        $"{r.Grain} [{r.GrainType}] on {r.Silo}: {r.Method} " +
        (r.State == GrainRequestState.Running ? $"running for {GlueText.Duration(r.Elapsed)}" : $"QUEUED at position {r.QueuePosition}, waiting for {GlueText.Duration(r.Elapsed)}") +
        (r.Caller is { } c ? $", called by {c}" : "");

    private static void Chain(StringBuilder text, GrainCallChain chain, string indent)
    {
        GrainRequest r = chain.Request;
        text.AppendLine(indent + Headline(r));
        if (r.OrleansLimits is { } limits)
        {
            text.AppendLine($"{indent}  Orleans: {limits}");
        }
        if (r.Stack is { } stack)
        {
            GlueText.AppendStack(text, stack, indent + "  ");
        }
        else if (r.State == GrainRequestState.Waiting)
        {
            text.AppendLine($"{indent}  └ behind the request running in {r.Grain}:");
        }
        if (r.Note is { } note)
        {
            text.AppendLine($"{indent}    {note}");
        }
        foreach (string calleeNote in chain.Notes)
        {
            text.AppendLine($"{indent}    ‼ {calleeNote}");
        }
        foreach (GrainCallChain next in chain.Next)
        {
            Chain(text, next, indent + "    ");
        }
    }
}
