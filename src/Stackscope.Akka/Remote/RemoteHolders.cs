namespace Stackscope.Akka.Remote;

/// <summary>
/// What the other nodes answered about one read's remote Asks: the holder of each request found, the Asks followed on
/// the way here (an Ask met again closes a cycle), and the nodes that did not answer, with why. The glue words each
/// remote Ask from it (<see cref="Glue.AkkaGlue"/>).
/// </summary>
internal sealed class RemoteHolders(
    IReadOnlyDictionary<string, HolderAnswer> byKey,
    IReadOnlyList<ChainLink> chain,
    IReadOnlyList<string> unanswered,
    IReadOnlyList<string> errors,
    int asked)
{
    public IReadOnlyDictionary<string, HolderAnswer> ByKey { get; } = byKey;

    public IReadOnlyList<ChainLink> Chain { get; } = chain;

    /// <summary>Each node that was not asked or did not answer, with why ("akka.tcp://...: did not answer within 4.5 s").</summary>
    public IReadOnlyList<string> Unanswered { get; } = unanswered;

    /// <summary>What went wrong on the nodes that answered, each prefixed with its node.</summary>
    public IReadOnlyList<string> Errors { get; } = errors;

    /// <summary>How many nodes were asked.</summary>
    public int Asked { get; } = asked;

    /// <summary>The actor holding <paramref name="key"/>'s request when that Ask was already followed on the way here.</summary>
    public string? ChainHolder(string key) => Chain.FirstOrDefault(c => c.Key == key)?.Holder;

    public static RemoteHolders None(IReadOnlyList<ChainLink> chain, params string[] errors) =>
        new(new Dictionary<string, HolderAnswer>(), chain, Array.Empty<string>(), errors, 0);
}
