namespace Stackscope.Reading;

/// <summary>
/// Reads the objects of one process, this one or another: the data-reader half of ClrMD's model. The rules about the
/// runtime's objects (what a semaphore's queue says, when a timer fires, how full a channel is) are written once over
/// this interface (<see cref="RuntimeRules"/>) and read this process's objects (<see cref="LiveObjects"/>) and a target's
/// heap (Stackscope.Diagnostics) alike, so a leaf read from a dump says what the same leaf says in process.
/// </summary>
/// <typeparam name="TObject">An object reference: the object itself in process, a heap object out of process.</typeparam>
/// <remarks>Every read tolerates what it cannot read (a missing field, another runtime version): it returns null.</remarks>
internal interface IObjectReader<TObject>
{
    /// <summary>Whether <paramref name="value"/> is no object.</summary>
    bool IsNull(TObject value);

    /// <summary>Whether two references are the same object.</summary>
    bool Same(TObject a, TObject b);

    /// <summary>The object's type's full name, generic types by their definition (<c>System.Threading.Tasks.Task+WhenAllPromise`1</c>); null for null.</summary>
    string? DefinitionName(TObject value);

    /// <summary>The object's type as C# writes it, without namespace (<c>UnboundedChannel&lt;string&gt;</c>).</summary>
    string FormatType(TObject value);

    /// <summary>Whether the object's type or one of its base types has the simple name <paramref name="name"/> (<c>AsyncOperation`1</c>).</summary>
    bool HasBaseNamed(TObject value, string name);

    /// <summary>A reference field; null (<see cref="IsNull"/>) if there is none. A dotted path reads through value-typed fields.</summary>
    TObject Object(TObject value, string field);

    /// <summary>An <see cref="int"/> field, or null.</summary>
    int? Int32(TObject value, string field);

    /// <summary>A <see cref="long"/> field (a dotted path reads through value-typed fields: <c>_period._ticks</c>), or null.</summary>
    long? Int64(TObject value, string field);

    /// <summary>A <see cref="uint"/> field, or null.</summary>
    uint? UInt32(TObject value, string field);

    /// <summary>A <see cref="bool"/> field, or null.</summary>
    bool? Boolean(TObject value, string field);

    /// <summary>A string field's text (at most 1,024 characters), or null.</summary>
    string? String(TObject value, string field);

    /// <summary>The length of an array object, or null if it is not an array.</summary>
    int? Length(TObject array);

    /// <summary>Element <paramref name="index"/> of an array of references.</summary>
    TObject Element(TObject array, int index);

    /// <summary>The object's reference-typed instance fields with their values, declared and inherited.</summary>
    IEnumerable<(string Name, TObject Value)> ReferenceFields(TObject value);

    /// <summary>The target's <see cref="Environment.TickCount64"/> now; null when there is no now (a dump).</summary>
    long? Now { get; }
}
