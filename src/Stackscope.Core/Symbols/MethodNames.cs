using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Text;

namespace Stackscope.Symbols;

/// <summary>
/// Turns compiler-generated names back into methods as written: <c>&lt;PlaceAsync&gt;d__4.MoveNext</c> becomes
/// <c>async Task&lt;int&gt; OrderService.PlaceAsync(Order order)</c>, lambdas and local functions are named after
/// the method containing them (in the style of Ben.Demystifier), and types use C# keywords and generic syntax.
/// </summary>
internal static class MethodNames
{
    private static readonly ConcurrentDictionary<MethodBase, string> s_syncNames = new();

    // Keyed by full name, not Type identity, so types from a MetadataLoadContext (another process's
    // assemblies, read out of process) render the same as the running process's own.
    private static readonly Dictionary<string, string> s_keywords = new(StringComparer.Ordinal)
    {
        ["System.Void"] = "void", ["System.Boolean"] = "bool", ["System.Byte"] = "byte", ["System.SByte"] = "sbyte",
        ["System.Char"] = "char", ["System.Int16"] = "short", ["System.UInt16"] = "ushort", ["System.Int32"] = "int",
        ["System.UInt32"] = "uint", ["System.Int64"] = "long", ["System.UInt64"] = "ulong", ["System.Single"] = "float",
        ["System.Double"] = "double", ["System.Decimal"] = "decimal", ["System.String"] = "string",
        ["System.Object"] = "object", ["System.IntPtr"] = "nint", ["System.UIntPtr"] = "nuint",
    };

    /// <summary>True for names the C# compiler makes up (<c>&lt;&gt;c</c>, <c>&lt;M&gt;d__1</c>, <c>&lt;M&gt;b__0_0</c>).</summary>
    public static bool IsCompilerGenerated(string name) => name.StartsWith('<');

    /// <summary>The display name of a method running on a thread, demystified; cached per method.</summary>
    public static string ForSyncMethod(MethodBase method) => s_syncNames.GetOrAdd(method, static m => Describe(m, prefix: null));

    /// <summary>
    /// Renders <paramref name="method"/> (a kickoff method or any method) as written in source.
    /// <paramref name="prefix"/> is prepended, e.g. "async".
    /// </summary>
    public static string Describe(MethodBase method, string? prefix)
    {
        var sb = new StringBuilder();
        if (prefix is not null)
        {
            sb.Append(prefix).Append(' ');
        }
        if (method is MethodInfo mi)
        {
            AppendType(sb, mi.ReturnType);
            sb.Append(' ');
        }

        Type? owner = method.DeclaringType;
        Type? userType = owner;
        while (userType is not null && IsCompilerGenerated(userType.Name) && userType.DeclaringType is not null)
        {
            userType = userType.DeclaringType;
        }
        if (userType is not null)
        {
            AppendType(sb, userType);
            sb.Append('.');
        }

        string name = method.Name;
        if (TryParseGenerated(name, out string outer, out char kind, out string? localName))
        {
            // Lambdas and local functions: "Outer(params)+Local(params)" or "Outer(params)+(params) => { }".
            if (outer == "<Main>$" || outer == "<Main>")
            {
                sb.Append("<top-level statements>");
            }
            else
            {
                MethodBase? container = userType is null ? null : FindByName(userType, outer);
                sb.Append(container is null ? outer : NameAsWritten(container));
                if (container is not null)
                {
                    AppendParameters(sb, container);
                }
            }
            sb.Append('+');
            if (kind == 'g' && localName is not null)
            {
                sb.Append(localName);
                AppendParameters(sb, method);
            }
            else
            {
                AppendParameters(sb, method);
                sb.Append(" => { }");
            }
            return sb.ToString();
        }

        if (name == "<Main>$")
        {
            sb.Append("<top-level statements>");
            return sb.ToString();
        }

        sb.Append(method is ConstructorInfo ? (method.IsStatic ? "cctor" : "ctor") : NameAsWritten(method));
        if (method is MethodInfo { IsGenericMethod: true } generic)
        {
            AppendGenericArguments(sb, generic.GetGenericArguments());
        }
        AppendParameters(sb, method);
        return sb.ToString();
    }

    /// <summary>
    /// Parses <c>&lt;Outer&gt;b__0_1</c> (lambda) and <c>&lt;Outer&gt;g__Local|0_1</c> (local function).
    /// </summary>
    public static bool TryParseGenerated(string name, out string outer, out char kind, out string? localName)
    {
        outer = string.Empty;
        kind = '\0';
        localName = null;
        if (!name.StartsWith('<'))
        {
            return false;
        }
        int close = FindMatchingClose(name);
        if (close < 0 || close + 1 >= name.Length)
        {
            return false;
        }
        kind = name[close + 1];
        if (kind != 'b' && kind != 'g')
        {
            return false;
        }
        outer = name.Substring(1, close - 1);
        if (kind == 'g')
        {
            int start = close + 4; // skip ">g__"
            int bar = name.IndexOf('|', start);
            localName = bar > start ? name.Substring(start, bar - start) : null;
        }
        return true;
    }

    private static int FindMatchingClose(string name)
    {
        int depth = 0;
        for (int i = 0; i < name.Length; i++)
        {
            if (name[i] == '<') depth++;
            else if (name[i] == '>' && --depth == 0) return i;
        }
        return -1;
    }

    /// <summary>
    /// The method a generated name refers to by <paramref name="name"/>. In generated names an explicit interface
    /// implementation's dots are dashes (<c>&lt;Ns-IStore-GetAsync&gt;b__2_0</c> for <c>Ns.IStore.GetAsync</c>).
    /// </summary>
    private static MethodBase? FindByName(Type type, string name)
    {
        foreach (MethodInfo m in type.GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
        {
            if (m.Name == name || (m.Name.Contains('.') && m.Name.Replace('.', '-') == name))
            {
                return m;
            }
        }
        if (name == ".ctor" || name == ".cctor")
        {
            return type.GetConstructors(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic).FirstOrDefault();
        }
        return null;
    }

    /// <summary>
    /// A method's name as written in C#. An explicit interface implementation's metadata name is qualified with the
    /// interface's namespace (<c>Ns.IStore.GetAsync</c>, <c>Ns.IRepository&lt;System.String&gt;.FindAsync</c>); it is
    /// written with the interface as C# names it, without namespace: <c>IStore.GetAsync</c>, <c>IRepository&lt;string&gt;.FindAsync</c>.
    /// </summary>
    private static string NameAsWritten(MethodBase method)
    {
        string name = method.Name;
        int dot = LastDotOutsideBrackets(name);
        if (dot <= 0 || method.DeclaringType is not { } owner)
        {
            return name;
        }
        string qualifier = name[..dot];
        return (ExplicitInterface(owner, qualifier) is { } implemented ? FormatType(implemented) : WithoutNamespace(qualifier)) + name[dot..];
    }

    private static int LastDotOutsideBrackets(string name)
    {
        int depth = 0;
        for (int i = name.Length - 1; i >= 0; i--)
        {
            switch (name[i])
            {
                case '>': depth++; break;
                case '<': depth--; break;
                case '.' when depth == 0: return i;
            }
        }
        return -1;
    }

    /// <summary>
    /// The interface of <paramref name="owner"/> that <paramref name="qualifier"/> (the compiler's rendering of it in
    /// an explicit implementation's name) denotes, or null. Matched by name, which works for types read out of
    /// process (a MetadataLoadContext has no interface maps); among several constructions of one generic interface,
    /// by the compiler's rendering of the type arguments.
    /// </summary>
    private static Type? ExplicitInterface(Type owner, string qualifier)
    {
        int lt = qualifier.IndexOf('<');
        string definitionName = lt < 0 ? qualifier : qualifier[..lt];
        Type? only = null;
        int count = 0;
        Type[] interfaces;
        try
        {
            interfaces = owner.GetInterfaces();
        }
        catch (Exception)
        {
            return null;
        }
        foreach (Type candidate in interfaces)
        {
            if (DottedName(candidate.IsGenericType ? candidate.GetGenericTypeDefinition() : candidate) != definitionName)
            {
                continue;
            }
            if (CompilerRendering(candidate) == qualifier)
            {
                return candidate;
            }
            only = candidate;
            count++;
        }
        return count == 1 ? only : null;
    }

    /// <summary><c>Ns.Outer.IInner</c> for <c>Ns.Outer+IInner`1</c>: namespace and containing types, dotted, without arity.</summary>
    private static string DottedName(Type type)
    {
        string full = type.FullName ?? (type.Namespace is { Length: > 0 } ns ? ns + "." + type.Name : type.Name);
        var sb = new StringBuilder(full.Length);
        for (int i = 0; i < full.Length; i++)
        {
            if (full[i] == '`')
            {
                while (i + 1 < full.Length && char.IsAsciiDigit(full[i + 1]))
                {
                    i++;
                }
                continue;
            }
            sb.Append(full[i] == '+' ? '.' : full[i]);
        }
        return sb.ToString();
    }

    /// <summary>How the C# compiler writes a type in an explicit implementation's name: <c>Ns.IPair&lt;System.Int32,System.String[]&gt;</c>.</summary>
    private static string CompilerRendering(Type type)
    {
        if (type.IsGenericParameter)
        {
            return type.Name;
        }
        if (type.IsArray)
        {
            return CompilerRendering(type.GetElementType()!) + "[" + new string(',', type.GetArrayRank() - 1) + "]";
        }
        if (!type.IsGenericType || type.IsGenericTypeDefinition)
        {
            return DottedName(type);
        }
        Type[] args = type.GetGenericArguments();
        if (type.GetGenericTypeDefinition().FullName == "System.Nullable`1")
        {
            return CompilerRendering(args[0]) + "?";
        }
        return DottedName(type.GetGenericTypeDefinition()) + "<" + string.Join(",", args.Select(CompilerRendering)) + ">";
    }

    /// <summary><c>IPair&lt;System.Int32&gt;</c> for <c>Ns.IPair&lt;System.Int32&gt;</c>: the last dotted segment before any type argument.</summary>
    private static string WithoutNamespace(string qualifier)
    {
        int lt = qualifier.IndexOf('<');
        int dot = qualifier.LastIndexOf('.', lt < 0 ? qualifier.Length - 1 : lt);
        return dot < 0 ? qualifier : qualifier[(dot + 1)..];
    }

    private static void AppendParameters(StringBuilder sb, MethodBase method)
    {
        sb.Append('(');
        bool first = true;
        ParameterInfo[] parameters;
        try
        {
            parameters = method.GetParameters();
        }
        catch (Exception)
        {
            parameters = Array.Empty<ParameterInfo>();
        }
        foreach (ParameterInfo p in parameters)
        {
            // Local functions receive their captured variables as a by-ref closure struct: not written in source.
            Type pt = p.ParameterType.IsByRef ? p.ParameterType.GetElementType()! : p.ParameterType;
            if (IsCompilerGenerated(pt.Name))
            {
                continue;
            }
            if (!first)
            {
                sb.Append(", ");
            }
            first = false;
            if (p.ParameterType.IsByRef)
            {
                sb.Append(p.IsOut ? "out " : p.IsIn ? "in " : "ref ");
            }
            AppendType(sb, pt);
            if (!string.IsNullOrEmpty(p.Name))
            {
                sb.Append(' ').Append(p.Name);
            }
        }
        sb.Append(')');
    }

    /// <summary>Renders a type as C# writes it.</summary>
    /// <remarks>Cached for this process's types (a leaf names its task's type on every extraction); another process's types, from a metadata context, are not kept.</remarks>
    public static string FormatType(Type type) =>
        type.GetType() == s_runtimeTypeType ? s_typeNames.GetOrAdd(type, static t => Render(t)) : Render(type);

    private static string Render(Type type)
    {
        var sb = new StringBuilder();
        AppendType(sb, type);
        return sb.ToString();
    }

    /// <summary>The runtime's own Type class: a type of this process, not a metadata context's.</summary>
    private static readonly Type s_runtimeTypeType = typeof(object).GetType();

    /// <summary>Names of this process's types as C# writes them: a documented cache, for the process (types are few).</summary>
    private static readonly ConcurrentDictionary<Type, string> s_typeNames = new();

    private static void AppendType(StringBuilder sb, Type type, bool qualifyNested = true)
    {
        if (!type.IsGenericParameter && type.FullName is { } fullName && s_keywords.TryGetValue(fullName, out string? keyword))
        {
            sb.Append(keyword);
            return;
        }
        if (type.IsByRef || type.IsPointer)
        {
            AppendType(sb, type.GetElementType()!);
            sb.Append(type.IsPointer ? "*" : string.Empty);
            return;
        }
        if (type.IsArray)
        {
            AppendType(sb, type.GetElementType()!);
            sb.Append('[').Append(',', type.GetArrayRank() - 1).Append(']');
            return;
        }
        if (type.IsGenericParameter)
        {
            sb.Append(type.Name);
            return;
        }
        if (type.IsGenericType && !type.IsGenericTypeDefinition && type.GetGenericTypeDefinition().FullName == "System.Nullable`1")
        {
            AppendType(sb, type.GetGenericArguments()[0]);
            sb.Append('?');
            return;
        }

        Type[] args = type.IsGenericType ? type.GetGenericArguments() : Type.EmptyTypes;
        if (type.IsGenericType && type.FullName?.StartsWith("System.ValueTuple`", StringComparison.Ordinal) == true && args.Length < 8)
        {
            sb.Append('(');
            for (int i = 0; i < args.Length; i++)
            {
                if (i > 0) sb.Append(", ");
                AppendType(sb, args[i]);
            }
            sb.Append(')');
            return;
        }

        // Nested types: Outer<T>.Inner<U>; generic arguments of a nested type include its outer types' ones.
        int used = 0;
        if (type.IsNested && !type.IsGenericParameter && qualifyNested)
        {
            used = AppendOuter(sb, type.DeclaringType!, args);
        }
        AppendSimpleName(sb, type.Name, args, used);
    }

    private static int AppendOuter(StringBuilder sb, Type outer, Type[] args)
    {
        int used = 0;
        if (outer.IsNested)
        {
            used = AppendOuter(sb, outer.DeclaringType!, args);
        }
        int count = outer.IsGenericType ? outer.GetGenericArguments().Length : 0;
        AppendSimpleName(sb, outer.Name, args.Take(count).ToArray(), used);
        sb.Append('.');
        return count;
    }

    private static void AppendSimpleName(StringBuilder sb, string name, Type[] args, int skip)
    {
        int tick = name.IndexOf('`');
        sb.Append(tick >= 0 ? name.AsSpan(0, tick) : name);
        if (tick >= 0 && args.Length > skip)
        {
            AppendGenericArguments(sb, args.Skip(skip).ToArray());
        }
    }

    private static void AppendGenericArguments(StringBuilder sb, Type[] args)
    {
        sb.Append('<');
        for (int i = 0; i < args.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            AppendType(sb, args[i]);
        }
        sb.Append('>');
    }

    /// <summary>
    /// Finds the method whose state machine is <paramref name="stateMachineType"/> (through
    /// <see cref="StateMachineAttribute"/>), closed over the state machine's generic arguments.
    /// </summary>
    public static MethodInfo? FindKickoffMethod(Type stateMachineType)
    {
        Type definition = stateMachineType.IsGenericType ? stateMachineType.GetGenericTypeDefinition() : stateMachineType;
        Type? owner = definition.DeclaringType;
        if (owner is null)
        {
            return null;
        }
        foreach (MethodInfo m in owner.GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
        {
            if (StateMachineAttributeOf(m) is { } attribute && Equals(attribute.ConstructorArguments[0].Value, definition))
            {
                return Close(m, stateMachineType);
            }
        }
        return null;
    }

    /// <summary>
    /// The method's <see cref="StateMachineAttribute"/> (async, iterator or async iterator) as attribute data,
    /// which works for types from a MetadataLoadContext too; null if it has none.
    /// </summary>
    public static CustomAttributeData? StateMachineAttributeOf(MethodInfo method)
    {
        foreach (CustomAttributeData data in method.CustomAttributes)
        {
            if (data.AttributeType.Namespace == "System.Runtime.CompilerServices" &&
                data.AttributeType.Name is nameof(AsyncStateMachineAttribute) or nameof(IteratorStateMachineAttribute) or nameof(AsyncIteratorStateMachineAttribute) &&
                data.ConstructorArguments.Count == 1)
            {
                return data;
            }
        }
        return null;
    }

    private static MethodInfo Close(MethodInfo open, Type closedStateMachine)
    {
        if (!closedStateMachine.IsGenericType || closedStateMachine.ContainsGenericParameters)
        {
            return open;
        }
        try
        {
            // The state machine's generic arguments are its owner's, then the method's.
            Type[] args = closedStateMachine.GetGenericArguments();
            Type owner = open.DeclaringType!;
            int ownerCount = owner.IsGenericTypeDefinition ? owner.GetGenericArguments().Length : 0;
            MethodInfo method = open;
            if (ownerCount > 0)
            {
                // By token rather than by handle: a MetadataLoadContext's methods have no handles.
                Type closedOwner = owner.MakeGenericType(args.Take(ownerCount).ToArray());
                method = closedOwner.GetMethods(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
                    .First(m => m.MetadataToken == open.MetadataToken);
            }
            if (method.IsGenericMethodDefinition)
            {
                method = method.MakeGenericMethod(args.Skip(ownerCount).ToArray());
            }
            return method;
        }
        catch (Exception)
        {
            return open;
        }
    }
}
