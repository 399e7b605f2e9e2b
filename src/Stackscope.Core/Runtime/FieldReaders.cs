using Stackscope.Runtime;

namespace Stackscope.Glue;

/// <summary>
/// Compiled readers of instance fields by name, for glue that reads framework state the framework does not expose
/// (a mailbox's queue, the request a runtime is invoking). One DynamicMethod per (type, field), compiled on first
/// use and cached for the process: reading costs a few field loads, not a reflection call per read.
/// </summary>
public static class FieldReaders
{
    /// <summary>
    /// A reader of the instance field <paramref name="field"/> declared on <paramref name="type"/> or a base type,
    /// public or not; value types are boxed. Null if there is no such field (another version of the framework).
    /// </summary>
    public static Func<object, object?>? For(Type type, string field) => FieldPath.Reader(type, field);

    /// <summary>
    /// A reader of a path of fields (<c>"StateMachine", "message"</c>: a field of a field), each declared on the
    /// previous field's type or a base type, value-typed steps read in place without copies. Null if a step is missing.
    /// </summary>
    public static Func<object, object?>? For(Type type, string field, params string[] path) =>
        path.Length == 0 ? FieldPath.Reader(type, field) : s_paths.GetOrAdd((type, field + "." + string.Join(".", path)), static (key, steps) =>
        {
            var fields = new List<System.Reflection.FieldInfo>(steps.Length);
            Type current = key.Item1;
            foreach (string step in steps)
            {
                if (FieldPath.FindField(current, step) is not { } found)
                {
                    return null;
                }
                fields.Add(found);
                current = found.FieldType;
            }
            return FieldPath.Compile<object?>(key.Item1, fields);
        }, path.Prepend(field).ToArray());

    /// <summary>Compiled path readers by (root type, dotted path): a documented cache, for the process.</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(Type, string), Func<object, object?>?> s_paths = new();

    /// <summary>The value of <paramref name="field"/> on <paramref name="instance"/>, or null if it has no such field or is null.</summary>
    public static object? Read(object? instance, string field) => instance is null ? null : FieldPath.Reader(instance.GetType(), field)?.Invoke(instance);
}
