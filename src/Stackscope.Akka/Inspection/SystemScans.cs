using Akka.Actor;
using Stackscope.Glue;

namespace Stackscope.Akka.Inspection;

/// <summary>
/// What one extraction has read of actor systems: each system read once, however many Asks, actors and linked stacks
/// lead to it. A dump seeds it (through <see cref="ExtractOptions.GlueItems"/>) with the scan it took; an extraction
/// started elsewhere gets a fresh one in its <see cref="GlueContext"/>. Never shared between extractions.
/// </summary>
internal sealed class SystemScans(ActorDumpOptions options)
{
    /// <summary>The extraction item holding the scans.</summary>
    public static readonly object Key = new();

    private readonly Dictionary<ActorSystem, SystemScan> _scans = new(ReferenceEqualityComparer.Instance);

    /// <summary>The scans of the extraction <paramref name="context"/> serves.</summary>
    public static SystemScans In(GlueContext context) => context.GetOrAdd(Key, static () => new SystemScans(ActorDumpOptions.Default));

    /// <summary>Tasks met in this extraction's stacks and whether each is an Ask; created when first asked.</summary>
    private Dictionary<Task, bool>? _isAsk;

    /// <summary>The scans a dump seeded the extraction of <paramref name="context"/> with, if any (looking does not create the context's items).</summary>
    public static SystemScans? Seeded(GlueContext context) =>
        context.Options.GlueItems is { } items && items.TryGetValue(Key, out object? scans) ? scans as SystemScans : null;

    /// <summary>
    /// Whether <paramref name="task"/> (not completed) is an Ask, read once per extraction: the handlers of a dump often
    /// await one task (100 handlers on one gate read its 100 continuations 100 times before).
    /// </summary>
    public bool IsAsk(Task task)
    {
        _isAsk ??= new Dictionary<Task, bool>(ReferenceEqualityComparer.Instance);
        if (!_isAsk.TryGetValue(task, out bool ask))
        {
            _isAsk[task] = ask = SystemScan.IsAsk(task);
        }
        return ask;
    }

    /// <summary>
    /// Keys of other nodes' Asks whose requests the reads look for (the asking node's temporary actor paths, with its
    /// address): set when this node answers another's question (<see cref="Remote.NodeService"/>).
    /// </summary>
    public IReadOnlySet<string>? WantedRemoteKeys { get; init; }

    /// <summary>
    /// What other nodes answered about this extraction's remote Asks, when an asynchronous dump asked them; null in a
    /// synchronous one, which never waits for the network.
    /// </summary>
    public Remote.RemoteHolders? Remote { get; set; }

    /// <summary>The systems read so far.</summary>
    public IEnumerable<SystemScan> All => _scans.Values;

    /// <summary>The scan of <paramref name="system"/>, read now if this extraction has not read it yet.</summary>
    public SystemScan For(ActorSystem system)
    {
        if (!_scans.TryGetValue(system, out SystemScan? scan))
        {
            _scans[system] = scan = SystemScan.Read(system, options, this);
        }
        return scan;
    }

    /// <summary>Extract options whose extractions share these scans.</summary>
    public ExtractOptions Seed(ExtractOptions extract) => extract with { GlueItems = new Dictionary<object, object> { [Key] = this } };
}
