using Stackscope.Runtime;
using Stackscope.Symbols;

namespace Stackscope.Reading;

/// <summary>
/// This process's objects, read through compiled field readers (<see cref="FieldPath"/>, cached per type and field): the
/// in-process side of <see cref="IObjectReader{TObject}"/>.
/// </summary>
internal sealed class LiveObjects : IObjectReader<object?>
{
    public static LiveObjects Instance { get; } = new();

    private LiveObjects()
    {
    }

    public bool IsNull(object? value) => value is null;

    public bool Same(object? a, object? b) => ReferenceEquals(a, b);

    public string? DefinitionName(object? value) => value is null ? null : DefinitionName(value.GetType());

    /// <summary>A type's full name, a generic type by its definition.</summary>
    public static string DefinitionName(Type type) =>
        (type.IsGenericType ? type.GetGenericTypeDefinition().FullName : type.FullName) ?? type.Name;

    public string FormatType(object? value) => value is null ? "null" : MethodNames.FormatType(value.GetType());

    public bool HasBaseNamed(object? value, string name)
    {
        for (Type? t = value?.GetType(); t is not null; t = t.BaseType)
        {
            if (t.Name == name)
            {
                return true;
            }
        }
        return false;
    }

    public object? Object(object? value, string field) => Path(value, field);

    public int? Int32(object? value, string field) => Path(value, field) switch
    {
        int i => i,
        Enum e when Enum.GetUnderlyingType(e.GetType()) == typeof(int) => Convert.ToInt32(e, System.Globalization.CultureInfo.InvariantCulture), // an int-backed enum, as out of process
        _ => null,
    };

    public long? Int64(object? value, string field) => Path(value, field) as long?;

    public uint? UInt32(object? value, string field) => Path(value, field) as uint?;

    public bool? Boolean(object? value, string field) => Path(value, field) as bool?;

    public string? String(object? value, string field) => Path(value, field) is string text ? text.Length > 1024 ? text[..1024] : text : null;

    public int? Length(object? array) => (array as Array)?.Length;

    public object? Element(object? array, int index) => array is object?[] items && (uint)index < (uint)items.Length ? items[index] : null;

    public IEnumerable<(string Name, object? Value)> ReferenceFields(object? value)
    {
        if (value is null)
        {
            yield break;
        }
        foreach (var (name, read) in s_referenceFields.GetOrAdd(value.GetType(), static type => FieldPath.AllFields(type)
            .Where(f => !f.FieldType.IsValueType)
            .Select(f => (f.Name, FieldPath.Compile<object?>(type, [f])))
            .ToArray()))
        {
            yield return (name, read(value));
        }
    }

    /// <summary>Compiled readers of each type's reference fields: a documented cache, for the process.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, (string Name, Func<object, object?> Read)[]> s_referenceFields = new();

    public long? Now => Environment.TickCount64;

    private static object? Path(object? value, string path)
    {
        if (value is null)
        {
            return null;
        }
        int dot = path.IndexOf('.');
        if (dot < 0)
        {
            return FieldPath.Read(value, path);
        }
        object? first = FieldPath.Read(value, path[..dot]);
        return Path(first, path[(dot + 1)..]);
    }
}
