using System.Reflection;
using Stackscope.Symbols;

namespace Stackscope.Diagnostics.Clr;

/// <summary>What Stackscope knows about a state machine type of the target process.</summary>
internal sealed record TargetStateMachine(FrameKind Kind, string DisplayName, Dictionary<int, (int Number, SourceLocation? Location)> Awaits,
    string? DeclaringTypeName, string? MethodName);

/// <summary>A method of the target process as Stackscope names it.</summary>
internal sealed record TargetMethod(string DisplayName, string? DeclaringTypeName, string MethodName);

/// <summary>
/// Names and lines for another process's code, read from its assembly files: types and methods through a
/// <see cref="MetadataLoadContext"/> (so names render exactly as in-process ones do) and lines through the
/// same portable-PDB reader the in-process walker uses. One instance per snapshot; disposing it releases
/// the metadata context.
/// </summary>
internal sealed class TargetSymbols : IDisposable
{
    private readonly MetadataLoadContext _context;
    private readonly Dictionary<string, Assembly?> _assemblies = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<int, Type>> _typesByToken = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, int), TargetStateMachine?> _stateMachines = new();
    private readonly Dictionary<(string, int), TargetMethod?> _methods = new();

    public TargetSymbols(IEnumerable<string> assemblyPaths)
    {
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (string path in assemblyPaths)
        {
            if (File.Exists(path))
            {
                paths.Add(path);
                // The target's framework directory resolves references the modules list does not name.
                if (Path.GetFileName(path).Equals("System.Private.CoreLib.dll", StringComparison.OrdinalIgnoreCase) &&
                    Path.GetDirectoryName(path) is { } frameworkDir)
                {
                    foreach (string dll in Directory.EnumerateFiles(frameworkDir, "*.dll"))
                    {
                        paths.Add(dll);
                    }
                }
            }
        }
        _context = new MetadataLoadContext(new PathAssemblyResolver(paths), "System.Private.CoreLib");
    }

    /// <summary>A method's display name (e.g. <c>LogicalStack Current.Helper()</c>) and metadata names; null if it cannot be read.</summary>
    public TargetMethod? Method(string modulePath, int typeToken, int methodToken)
    {
        if (!_methods.TryGetValue((modulePath, methodToken), out TargetMethod? name))
        {
            try
            {
                MethodBase? method = TypeByToken(modulePath, typeToken)?
                    .GetMembers(BindingFlags.Instance | BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly)
                    .OfType<MethodBase>()
                    .FirstOrDefault(m => m.MetadataToken == methodToken);
                name = method is null ? null : new TargetMethod(MethodNames.Describe(method, null), method.DeclaringType?.FullName, method.Name);
            }
            catch (Exception)
            {
                name = null;
            }
            _methods[(modulePath, methodToken)] = name;
        }
        return name;
    }

    /// <summary>The state machine whose type has <paramref name="typeToken"/> in <paramref name="modulePath"/>, or null.</summary>
    public TargetStateMachine? StateMachine(string modulePath, int typeToken)
    {
        if (!_stateMachines.TryGetValue((modulePath, typeToken), out TargetStateMachine? result))
        {
            try
            {
                result = Read(modulePath, typeToken);
            }
            catch (Exception)
            {
                result = null;
            }
            _stateMachines[(modulePath, typeToken)] = result;
        }
        return result;
    }

    private TargetStateMachine? Read(string modulePath, int typeToken)
    {
        if (TypeByToken(modulePath, typeToken) is not { } type)
        {
            return null;
        }
        MethodInfo? kickoff = MethodNames.FindKickoffMethod(type);
        string? attribute = kickoff is null ? null : MethodNames.StateMachineAttributeOf(kickoff)?.AttributeType.Name;
        FrameKind kind = attribute switch
        {
            "AsyncIteratorStateMachineAttribute" => FrameKind.AsyncIterator,
            "IteratorStateMachineAttribute" => FrameKind.Iterator,
            _ => FrameKind.Async,
        };
        string display = kickoff is not null ? MethodNames.Describe(kickoff, kind == FrameKind.Iterator ? null : "async") : MethodNames.FormatType(type);

        // The state number selects the await; its line is read as in process (MethodSymbols.AwaitLocation).
        var awaits = new Dictionary<int, (int, SourceLocation?)>();
        MethodInfo? moveNext = type.GetMethod("MoveNext", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic);
        if (moveNext is not null && PdbSymbols.ForFile(modulePath)?.GetMethod(moveNext.MetadataToken) is { YieldOffsets: { } yields } symbols)
        {
            ILScanner.Body? body;
            try
            {
                body = ILScanner.Body.Read(moveNext);
            }
            catch (Exception)
            {
                body = null; // lines then come from the IL order alone
            }
            for (int state = 0; state < yields.Length; state++)
            {
                awaits[state] = (state + 1, symbols.AwaitLocation(state, body));
            }
        }
        return new TargetStateMachine(kind, display, awaits, kickoff?.DeclaringType?.FullName, kickoff?.Name);
    }

    /// <summary>The line of an IL offset in a method of the target, or null.</summary>
    public static SourceLocation? Locate(string modulePath, int methodToken, int ilOffset) =>
        ilOffset < 0 ? null : PdbSymbols.ForFile(modulePath)?.GetMethod(methodToken)?.FindLocation(ilOffset);

    /// <summary>
    /// A type of the module by metadata token. A MetadataLoadContext does not resolve tokens, so each
    /// assembly's types are indexed by token once.
    /// </summary>
    private Type? TypeByToken(string modulePath, int typeToken)
    {
        if (!_typesByToken.TryGetValue(modulePath, out Dictionary<int, Type>? types))
        {
            types = new Dictionary<int, Type>();
            try
            {
                foreach (Type t in Load(modulePath)?.GetTypes() ?? Type.EmptyTypes)
                {
                    types[t.MetadataToken] = t;
                }
            }
            catch (ReflectionTypeLoadException e)
            {
                foreach (Type? t in e.Types)
                {
                    if (t is not null)
                    {
                        types[t.MetadataToken] = t;
                    }
                }
            }
            _typesByToken[modulePath] = types;
        }
        return types.GetValueOrDefault(typeToken);
    }

    private Assembly? Load(string modulePath)
    {
        if (!_assemblies.TryGetValue(modulePath, out Assembly? assembly))
        {
            try
            {
                assembly = File.Exists(modulePath) ? _context.LoadFromAssemblyPath(modulePath) : null;
            }
            catch (Exception)
            {
                assembly = null;
            }
            _assemblies[modulePath] = assembly;
        }
        return assembly;
    }

    public void Dispose() => _context.Dispose();
}
