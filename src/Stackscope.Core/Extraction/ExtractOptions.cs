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
}
