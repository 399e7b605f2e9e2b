using System.Reflection;
using System.Reflection.Emit;

namespace Stackscope.Runtime;

/// <summary>
/// Compiles readers for a chain of (possibly private) fields, e.g. <c>box.StateMachine.&lt;&gt;u__1.m_task</c>,
/// into a <see cref="DynamicMethod"/> once per type. Reading through the compiled delegate costs
/// a few field loads, where <see cref="FieldInfo.GetValue"/> would cost a reflection call and a box per step.
/// </summary>
internal static class FieldPath
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(Type, string), Func<object, object?>?> s_readers = new();

    /// <summary>
    /// A cached reader of one instance field (declared on <paramref name="type"/> or a base type) by name;
    /// null if there is none. Value types are boxed. The cache lives for the process.
    /// </summary>
    public static Func<object, object?>? Reader(Type type, string name) =>
        s_readers.GetOrAdd((type, name), static key =>
            FindField(key.Item1, key.Item2) is { } f ? Compile<object?>(key.Item1, [f]) : null);

    /// <summary>Reads field <paramref name="name"/> of <paramref name="obj"/> through a cached compiled reader.</summary>
    public static object? Read(object obj, string name) => Reader(obj.GetType(), name)?.Invoke(obj);

    /// <summary>Finds an instance field declared on <paramref name="type"/> or any of its base types.</summary>
    public static FieldInfo? FindField(Type type, string name)
    {
        for (Type? t = type; t is not null; t = t.BaseType)
        {
            FieldInfo? f = t.GetField(name, BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly);
            if (f is not null)
            {
                return f;
            }
        }
        return null;
    }

    /// <summary>All instance fields of <paramref name="type"/> and its base types, most derived first.</summary>
    public static IEnumerable<FieldInfo> AllFields(Type type)
    {
        for (Type? t = type; t is not null && t != typeof(object); t = t.BaseType)
        {
            foreach (FieldInfo f in t.GetFields(BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                yield return f;
            }
        }
    }

    /// <summary>
    /// Compiles <c>obj =&gt; ((Root)obj).path[0].path[1]...</c>. Value-typed results are boxed when
    /// <typeparamref name="TResult"/> is <see cref="object"/>. A null intermediate reference yields null
    /// (or <see cref="MissingInt"/> for <see cref="int"/>). The delegate throws
    /// <see cref="InvalidCastException"/> if given an object of another type; callers dispatch on the
    /// exact type first.
    /// </summary>
    public static Func<object, TResult> Compile<TResult>(Type root, IReadOnlyList<FieldInfo> path)
    {
        if (path.Count == 0)
        {
            throw new ArgumentException("A field path needs at least one field.", nameof(path));
        }

        var method = new DynamicMethod(
            "Stackscope_Read_" + path[^1].Name,
            typeof(TResult),
            new[] { typeof(object) },
            typeof(FieldPath).Module,
            skipVisibility: true);
        ILGenerator il = method.GetILGenerator();
        il.Emit(OpCodes.Ldarg_0);

        // After this, the stack holds either an object reference (reference types) or a managed
        // pointer to the value (value types): both can be the target of ldfld/ldflda.
        if (root.IsValueType)
        {
            il.Emit(OpCodes.Unbox, root);
        }
        else
        {
            il.Emit(OpCodes.Castclass, root);
        }

        for (int i = 0; i < path.Count; i++)
        {
            FieldInfo field = path[i];
            bool last = i == path.Count - 1;
            if (!last && field.FieldType.IsValueType)
            {
                il.Emit(OpCodes.Ldflda, field);
            }
            else
            {
                il.Emit(OpCodes.Ldfld, field);
                if (!last)
                {
                    // An intermediate reference may be null (a completed box clears its state machine):
                    // answer the "missing" value instead of throwing.
                    Label notNull = il.DefineLabel();
                    il.Emit(OpCodes.Dup);
                    il.Emit(OpCodes.Brtrue_S, notNull);
                    il.Emit(OpCodes.Pop);
                    EmitMissing<TResult>(il);
                    il.Emit(OpCodes.Ret);
                    il.MarkLabel(notNull);
                }
            }
        }

        Type resultType = path[^1].FieldType;
        if (resultType.IsValueType && !typeof(TResult).IsValueType)
        {
            il.Emit(OpCodes.Box, resultType);
        }
        il.Emit(OpCodes.Ret);
        return (Func<object, TResult>)method.CreateDelegate(typeof(Func<object, TResult>));
    }

    /// <summary>The value a compiled path returns when an intermediate reference is null.</summary>
    public const int MissingInt = int.MinValue;

    private static void EmitMissing<TResult>(ILGenerator il)
    {
        if (typeof(TResult) == typeof(int))
        {
            il.Emit(OpCodes.Ldc_I4, MissingInt);
        }
        else if (!typeof(TResult).IsValueType)
        {
            il.Emit(OpCodes.Ldnull);
        }
        else
        {
            throw new NotSupportedException("Field paths return int or a reference type.");
        }
    }

    /// <summary>Resolves field names along a path starting at <paramref name="root"/>; null if any is missing.</summary>
    public static FieldInfo[]? Resolve(Type root, params string[] names)
    {
        var result = new FieldInfo[names.Length];
        Type current = root;
        for (int i = 0; i < names.Length; i++)
        {
            FieldInfo? f = FindField(current, names[i]);
            if (f is null)
            {
                return null;
            }
            result[i] = f;
            current = f.FieldType;
        }
        return result;
    }
}
