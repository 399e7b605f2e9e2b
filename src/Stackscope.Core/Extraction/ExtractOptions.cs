namespace Stackscope;

/// <summary>Options for extracting a <see cref="LogicalStack"/>. The defaults suit most uses.</summary>
public sealed record ExtractOptions
{
    /// <summary>The options used when none are given.</summary>
    public static ExtractOptions Default { get; } = new();

    /// <summary>
    /// The most frames followed in each direction (down to the leaf, up through callers) before the stack
    /// is cut and marked <see cref="LogicalStack.IsTruncated"/>. Default 1,000.
    /// </summary>
    public int MaxDepth { get; init; } = 1000;

    /// <summary>
    /// Whether to follow the callers awaiting the extracted object ("awaited by"). Default <see langword="true"/>.
    /// </summary>
    public bool IncludeAwaitedBy { get; init; } = true;

    /// <summary>Whether to read the <c>using</c>/<c>await using</c> resources each suspended frame holds. Default <see langword="true"/>.</summary>
    public bool IncludeResources { get; init; } = true;

    /// <summary>The most child stacks shown under one branch point (a <c>WhenAll</c> of many tasks). Default 1,000.</summary>
    public int MaxChildren { get; init; } = 1000;

    /// <summary>
    /// The most frames read in one extraction, over all children, links and resources, so that glue linking
    /// stacks into a large graph cannot make one extraction unbounded. Default 100,000.
    /// </summary>
    public int MaxTotalFrames { get; init; } = 100_000;

    /// <summary>
    /// Items glue hooks find in their <see cref="Glue.GlueContext.Items"/> from the start of the extraction: a glue's own
    /// dump passes what it has read already, so its hooks do not read it again. Null (the default) for none.
    /// </summary>
    public IReadOnlyDictionary<object, object>? GlueItems { get; init; }
}
