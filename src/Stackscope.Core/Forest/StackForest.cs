using System.Text;

namespace Stackscope;

/// <summary>
/// Every pending async operation found at once, as a forest of logical stacks: one stack per root (an
/// operation nothing else awaits), identical stacks grouped with counts, largest group first — as Visual
/// Studio's Parallel Stacks and <c>dumpasync --coalesce</c> do.
/// </summary>
public sealed class StackForest
{
    /// <summary>Creates a forest (for producers other than <see cref="StackExtractor"/>, such as a heap reader).</summary>
    /// <param name="groups">The groups, largest first.</param>
    /// <param name="operationCount">How many pending operations were considered.</param>
    /// <param name="fromTracking">Whether they came from task tracking.</param>
    /// <param name="errors">Problems met.</param>
    public StackForest(IReadOnlyList<StackGroup> groups, int operationCount, bool fromTracking, IReadOnlyList<StackError> errors)
    {
        Groups = groups;
        OperationCount = operationCount;
        FromTracking = fromTracking;
        Origin = fromTracking ? "task tracking" : "explicit roots";
        Errors = errors;
    }

    /// <summary>The groups of identical stacks, largest first.</summary>
    public IReadOnlyList<StackGroup> Groups { get; }

    /// <summary>How many pending operations (tasks and async method boxes) were considered.</summary>
    public int OperationCount { get; }

    /// <summary>The number of root stacks: the sum of the groups' counts.</summary>
    public int RootCount => Groups.Sum(g => g.Count);

    /// <summary>True when the operations came from <see cref="TaskTracking"/>; false when from explicit roots.</summary>
    public bool FromTracking { get; }

    /// <summary>
    /// Where the operations came from, as the text's first line names it: <c>task tracking</c>, <c>explicit roots</c>
    /// (by <see cref="FromTracking"/>), or what another producer sets (a heap reader's <c>heap scan</c>).
    /// </summary>
    public string Origin { get; init; }

    /// <summary>Problems met while building the forest (each group's stack has its own errors too).</summary>
    public IReadOnlyList<StackError> Errors { get; }

    /// <summary>Renders the forest as trees with box-drawing characters.</summary>
    public override string ToString() => ToString(StackFormat.Tree);

    /// <summary>Renders the forest in <paramref name="format"/>: each group's count, then its stack.</summary>
    /// <param name="format">The format.</param>
    public string ToString(StackFormat format)
    {
        if (format == StackFormat.Json)
        {
            return JsonStackWriter.WriteForest(this);
        }
        var sb = new StringBuilder();
        sb.Append(RootCount).Append(" root stack(s) in ").Append(Groups.Count).Append(" group(s), ")
          .Append(OperationCount).Append(" pending operation(s)")
          .Append(" (").Append(Origin).Append(')').AppendLine();
        foreach (StackError error in Errors)
        {
            sb.Append("!! ").Append(error).AppendLine();
        }
        foreach (StackGroup group in Groups)
        {
            sb.AppendLine();
            sb.Append(format == StackFormat.Tree ? "══ " : "== ").Append(group.Count).Append(format == StackFormat.Ascii ? " x " : " × ").Append(format == StackFormat.Tree ? "══" : "==").AppendLine();
            sb.Append(group.Stack.ToString(format));
        }
        return format == StackFormat.Ascii ? StackFormatter.AsciiOnly(sb.ToString()) : sb.ToString();
    }
}

/// <summary>A group of identical root stacks.</summary>
/// <param name="Stack">The stack, extracted from the first root of the group.</param>
/// <param name="Count">How many roots have this stack.</param>
public sealed record StackGroup(LogicalStack Stack, int Count);
