using System.Collections.Concurrent;
using System.Reflection;

namespace Stackscope.Glue;

/// <summary>
/// The process-wide registry of glue: Stackscope's one documented registry of hooks. Glue named by a
/// <see cref="StackscopeGlueAttribute"/> is registered automatically, for assemblies already loaded when
/// Stackscope first extracts and for assemblies loaded later; other glue is registered with <see cref="Register"/>.
/// Later registrations take precedence over earlier ones, so an application can override a library's glue.
/// </summary>
public static class StackscopeGlue
{
    /// <summary>Registers <paramref name="glue"/> unless a glue of the same type is registered already.</summary>
    /// <param name="glue">The glue.</param>
    public static void Register(IStackscopeGlue glue)
    {
        ArgumentNullException.ThrowIfNull(glue);
        GlueRegistry.EnsureDiscovered();
        GlueRegistry.Add(glue);
    }

    /// <summary>The type names of the glue registered so far, built-in glue first.</summary>
    public static IReadOnlyList<string> Registered
    {
        get
        {
            GlueRegistry.EnsureDiscovered();
            return GlueRegistry.Current.Names;
        }
    }

    /// <summary>Problems met registering glue (a constructor or <see cref="IStackscopeGlue.Register"/> that threw).</summary>
    public static IReadOnlyList<string> RegistrationErrors
    {
        get
        {
            GlueRegistry.EnsureDiscovered();
            return GlueRegistry.Current.Errors;
        }
    }
}

/// <summary>An immutable set of hooks, replaced whole on each registration so lookups need no lock.</summary>
internal sealed class GlueSet
{
    public static readonly GlueSet Empty = new(Array.Empty<StackscopeGlueBuilder>(), Array.Empty<string>(), Array.Empty<string>());

    private readonly StackscopeGlueBuilder[] _glues;
    private readonly ConcurrentDictionary<Type, (string Glue, Func<object, GlueContext, Unwrapped?> Hook)?> _unwrappers = new();
    private readonly ConcurrentDictionary<Type, (string Glue, Func<object, GlueContext, ResourceDescription?> Hook)?> _describers = new();
    private readonly ConcurrentDictionary<MethodBase, (string Glue, Func<FrameContext, FrameElaboration?> Hook)[]> _elaborators = new();

    public GlueSet(StackscopeGlueBuilder[] glues, string[] names, string[] errors)
    {
        _glues = glues;
        Names = names;
        Errors = errors;
    }

    public IReadOnlyList<string> Names { get; }
    public IReadOnlyList<string> Errors { get; }
    public StackscopeGlueBuilder[] Glues => _glues;

    // The factories are static and take this set as an argument: a lookup that hits the cache allocates nothing.
    public (string Glue, Func<object, GlueContext, Unwrapped?> Hook)? UnwrapperFor(Type type) =>
        _unwrappers.GetOrAdd(type, static (t, set) => set.Best(t, static g => g.Unwrappers), this);

    public (string Glue, Func<object, GlueContext, ResourceDescription?> Hook)? DescriberFor(Type type) =>
        _describers.GetOrAdd(type, static (t, set) => set.Best(t, static g => g.Describers), this);

    public (string Glue, Func<FrameContext, FrameElaboration?> Hook)[] ElaboratorsFor(MethodBase method) =>
        _elaborators.GetOrAdd(method, static (m, set) =>
        {
            var found = new List<(string, Func<FrameContext, FrameElaboration?>)>();
            foreach (StackscopeGlueBuilder glue in set._glues)
            {
                foreach (var (appliesTo, hook) in glue.Elaborators)
                {
                    bool applies;
                    try
                    {
                        applies = appliesTo(m);
                    }
                    catch (Exception)
                    {
                        applies = false; // a selector that throws selects nothing
                    }
                    if (applies)
                    {
                        found.Add((glue.GlueName, hook));
                    }
                }
            }
            return found.ToArray();
        }, this);

    /// <summary>The hook registered for the most derived matching type; among equals, the latest registered.</summary>
    private (string, Func<object, GlueContext, T?>)? Best<T>(Type type, Func<StackscopeGlueBuilder, List<(Type Type, Func<object, GlueContext, T?> Hook)>> hooks)
        where T : class
    {
        for (Type? t = type; t is not null; t = t.BaseType)
        {
            if (Find(t) is { } hit) return hit;
        }
        foreach (Type i in type.GetInterfaces())
        {
            if (Find(i) is { } hit) return hit;
        }
        return null;

        (string, Func<object, GlueContext, T?>)? Find(Type candidate)
        {
            Type? definition = candidate.IsGenericType ? candidate.GetGenericTypeDefinition() : null;
            for (int g = _glues.Length - 1; g >= 0; g--)
            {
                List<(Type Type, Func<object, GlueContext, T?> Hook)> list = hooks(_glues[g]);
                for (int i = list.Count - 1; i >= 0; i--)
                {
                    if (list[i].Type == candidate || list[i].Type == definition)
                    {
                        return (_glues[g].GlueName, list[i].Hook);
                    }
                }
            }
            return null;
        }
    }
}

/// <summary>Holds the current <see cref="GlueSet"/> and discovers glue in loaded assemblies.</summary>
internal static class GlueRegistry
{
    private static readonly object s_gate = new();
    private static readonly HashSet<Type> s_registeredTypes = new();
    private static readonly List<StackscopeGlueBuilder> s_glues = new();
    private static readonly List<string> s_errors = new();
    private static GlueSet s_current = GlueSet.Empty;
    private static bool s_discovered;

    public static GlueSet Current => Volatile.Read(ref s_current);

    /// <summary>Registers the built-in glue and every glue named by loaded assemblies, once.</summary>
    public static void EnsureDiscovered()
    {
        if (Volatile.Read(ref s_discovered))
        {
            return;
        }
        lock (s_gate)
        {
            if (s_discovered)
            {
                return;
            }
            AddLocked(new BuiltInGlue());
            AppDomain.CurrentDomain.AssemblyLoad += (_, e) => Discover(e.LoadedAssembly);
            Volatile.Write(ref s_discovered, true);
        }
        foreach (Assembly assembly in AppDomain.CurrentDomain.GetAssemblies())
        {
            Discover(assembly);
        }
    }

    public static void Add(IStackscopeGlue glue)
    {
        lock (s_gate)
        {
            AddLocked(glue);
        }
    }

    private static void Discover(Assembly assembly)
    {
        if (assembly.IsDynamic)
        {
            return;
        }
        IEnumerable<StackscopeGlueAttribute> attributes;
        try
        {
            attributes = assembly.GetCustomAttributes<StackscopeGlueAttribute>().ToArray();
        }
        catch (Exception)
        {
            return;
        }
        foreach (StackscopeGlueAttribute attribute in attributes)
        {
            lock (s_gate)
            {
                if (s_registeredTypes.Contains(attribute.GlueType))
                {
                    continue;
                }
                try
                {
                    AddLocked((IStackscopeGlue)Activator.CreateInstance(attribute.GlueType)!);
                }
                catch (Exception e)
                {
                    s_errors.Add($"{attribute.GlueType.FullName}: {e.GetType().Name}: {e.Message}");
                    Publish();
                }
            }
        }
    }

    private static void AddLocked(IStackscopeGlue glue)
    {
        Type type = glue.GetType();
        if (!s_registeredTypes.Add(type))
        {
            return;
        }
        var builder = new StackscopeGlueBuilder(type.FullName ?? type.Name);
        try
        {
            glue.Register(builder);
            s_glues.Add(builder);
        }
        catch (Exception e)
        {
            s_errors.Add($"{builder.GlueName}: Register threw {e.GetType().Name}: {e.Message}");
        }
        Publish();
    }

    private static void Publish() =>
        Volatile.Write(ref s_current, new GlueSet(s_glues.ToArray(), s_glues.Select(g => g.GlueName).ToArray(), s_errors.ToArray()));
}
