using Microsoft.Diagnostics.Runtime;
using Stackscope.Reading;

namespace Stackscope.Diagnostics.Clr;

/// <summary>
/// A target's heap objects read through ClrMD: the out-of-process side of <see cref="IObjectReader{TObject}"/>, so the
/// rules Core holds about the runtime's objects describe a dump's semaphores, timers and channels as they describe this
/// process's. Type names are resolved through the target's metadata (<see cref="TargetSymbols"/>), so they are
/// formatted by the same formatter as in process.
/// </summary>
internal sealed class ClrObjects : IObjectReader<ClrObject>
{
    private readonly TargetSymbols _symbols;
    private readonly Dictionary<ulong, string> _definitions = new();

    /// <param name="symbols">The target's metadata.</param>
    /// <param name="now">The target's <see cref="Environment.TickCount64"/> now: a live process on this machine shares its clock; a dump has none (null).</param>
    public ClrObjects(TargetSymbols symbols, long? now)
    {
        _symbols = symbols;
        Now = now;
    }

    public long? Now { get; }

    public bool IsNull(ClrObject value) => value.IsNull || value.Type is null;

    public bool Same(ClrObject a, ClrObject b) => a.Address == b.Address;

    public string? DefinitionName(ClrObject value) => IsNull(value) ? null : DefinitionName(value.Type!);

    /// <summary>A type's definition name (<c>System.Threading.Tasks.Task+WhenAllPromise`1</c>), cached per method table.</summary>
    public string DefinitionName(ClrType type)
    {
        if (!_definitions.TryGetValue(type.MethodTable, out string? name))
        {
            _definitions[type.MethodTable] = name = ClrName.DefinitionOf(type.Name);
        }
        return name;
    }

    public string FormatType(ClrObject value) => IsNull(value) ? "null" : _symbols.FormatType(value.Type!.Name, value.Type.Module?.Name);

    public bool HasBaseNamed(ClrObject value, string name)
    {
        for (ClrType? t = value.Type; t is not null; t = t.BaseType)
        {
            if (ClrName.Parse(t.Name)?.SimpleName == name)
            {
                return true;
            }
        }
        return false;
    }

    public ClrObject Object(ClrObject value, string field) =>
        Locate(value, field, out ulong address, out ClrInstanceField? f, out bool interior) && f.IsObjectReference ? f.ReadObject(address, interior) : default;

    public int? Int32(ClrObject value, string field) => Read<int>(value, field);

    public long? Int64(ClrObject value, string field) => Read<long>(value, field);

    public uint? UInt32(ClrObject value, string field) => Read<uint>(value, field);

    public bool? Boolean(ClrObject value, string field) => Read<bool>(value, field);

    public string? String(ClrObject value, string field) =>
        Object(value, field) is { IsNull: false } text && text.Type?.IsString == true ? text.AsString(1024) : null;

    public int? Length(ClrObject array) => !IsNull(array) && array.IsArray ? array.AsArray().Length : null;

    public ClrObject Element(ClrObject array, int index)
    {
        if (IsNull(array) || !array.IsArray)
        {
            return default;
        }
        ClrArray items = array.AsArray();
        return (uint)index < (uint)items.Length ? items.GetObjectValue(index) : default;
    }

    public IEnumerable<(string Name, ClrObject Value)> ReferenceFields(ClrObject value)
    {
        if (IsNull(value))
        {
            yield break;
        }
        foreach (ClrInstanceField f in value.Type!.Fields)
        {
            if (f.IsObjectReference && f.Name is { } name)
            {
                yield return (name, f.ReadObject(value.Address, interior: false));
            }
        }
    }

    private T? Read<T>(ClrObject value, string field) where T : unmanaged =>
        Locate(value, field, out ulong address, out ClrInstanceField? f, out bool interior) && !f.IsObjectReference ? f.Read<T>(address, interior) : null;

    /// <summary>Finds the last field of a dotted path and the address it is read from (an object's, or a value's inside it).</summary>
    private static bool Locate(ClrObject value, string path, out ulong address, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out ClrInstanceField? field, out bool interior)
    {
        address = value.Address;
        interior = false;
        field = null;
        ClrType? type = value.IsNull ? null : value.Type;
        int start = 0;
        while (type is not null)
        {
            int dot = path.IndexOf('.', start);
            string name = dot < 0 ? path[start..] : path[start..dot];
            field = type.GetFieldByName(name);
            if (field is null)
            {
                return false;
            }
            if (dot < 0)
            {
                return true;
            }
            if (field.IsObjectReference)
            {
                ClrObject next = field.ReadObject(address, interior);
                if (next.IsNull)
                {
                    return false;
                }
                (address, interior, type) = (next.Address, false, next.Type);
            }
            else
            {
                (address, interior, type) = (field.GetAddress(address, interior), true, field.Type);
            }
            start = dot + 1;
        }
        return false;
    }
}
