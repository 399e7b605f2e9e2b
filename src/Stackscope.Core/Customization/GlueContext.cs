namespace Stackscope.Glue;

/// <summary>
/// The one extraction a glue hook serves: its options and a property bag that lives as long as the extraction
/// (one <c>StackExtractor.Extract</c> call with every stack it links, or one forest). Glue keeps what it read once
/// per extraction here — a framework's state read for the first object that needed it — instead of in
/// thread-static or global state.
/// </summary>
/// <remarks>
/// A context is used by one extraction on one thread; it is not thread-safe. The caller of an extraction can seed
/// items through <see cref="ExtractOptions.GlueItems"/> (a glue's own dump passes what it has read already).
/// </remarks>
public sealed class GlueContext
{
    private Dictionary<object, object?>? _items;

    internal GlueContext(ExtractOptions options) => Options = options;

    /// <summary>The options the extraction runs with.</summary>
    public ExtractOptions Options { get; }

    /// <summary>Items for this extraction, keyed by glue-chosen keys (use a private object or type as key); seeded from <see cref="ExtractOptions.GlueItems"/>.</summary>
    public IDictionary<object, object?> Items => _items ??= Options.GlueItems is { } seed ? new Dictionary<object, object?>(seed!) : new Dictionary<object, object?>();

    /// <summary>The item under <paramref name="key"/>, created by <paramref name="create"/> the first time this extraction asks.</summary>
    /// <typeparam name="T">The item's type.</typeparam>
    /// <param name="key">The key.</param>
    /// <param name="create">Creates the item.</param>
    public T GetOrAdd<T>(object key, Func<T> create) where T : class
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(create);
        if (Items.TryGetValue(key, out object? found) && found is T item)
        {
            return item;
        }
        T created = create();
        Items[key] = created;
        return created;
    }
}
