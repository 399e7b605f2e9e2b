using System.Reflection;
using Stackscope.Runtime;
using Stackscope.Symbols;

namespace Stackscope.Diagnostics.Clr;

/// <summary>A method of the target process as Stackscope names it.</summary>
internal sealed record TargetMethod(string DisplayName, string? DeclaringTypeName, string MethodName);

/// <summary>
/// Names and lines for another process's code, read from its assembly files: types and methods through a
/// <see cref="MetadataLoadContext"/> (so names render exactly as in-process ones do) and lines through the
/// same portable-PDB reader the in-process walker uses. A read takes one with <see cref="Open"/> and gives it back with
/// <see cref="Release"/>; disposing it releases the metadata context.
/// </summary>
/// <remarks>
/// A documented cache of one entry: the instance of the last read is kept for the next read of a target whose assembly
/// files are the same (by path, size and write time), so reading one process again and again (a watch loop, a
/// dashboard, a monitor) reuses its metadata context, names and state machine descriptions instead of opening and
/// parsing its assemblies again: about a fifth of a read of 100,000 state machines. A read takes the instance out of
/// the cache, so two reads at once never share one.
/// </remarks>
internal sealed class TargetSymbols : IDisposable
{
    private readonly MetadataLoadContext _context;
    private readonly Dictionary<string, Assembly?> _assemblies = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<int, Type>> _typesByToken = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, int, string?), StateMachineDescription?> _stateMachines = new();
    private readonly Dictionary<(string, int), TargetMethod?> _methods = new();
    private readonly Dictionary<string, Type?> _typesByName = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, int, string), int[]> _fieldOffsets = new();
    private readonly List<string> _modules = new();
    private string? _coreLib;
    private readonly string _identity;

    private static TargetSymbols? s_last;

    /// <summary>The metadata of the target whose assemblies are <paramref name="assemblyPaths"/>: the last read's, if its files are the same, else new.</summary>
    public static TargetSymbols Open(IEnumerable<string> assemblyPaths)
    {
        string[] paths = assemblyPaths.Where(File.Exists).ToArray(); // looked up once: the identity and a new instance use the same files
        string identity = Identity(paths);
        TargetSymbols? last = Interlocked.Exchange(ref s_last, null);
        if (last is not null && last._identity == identity)
        {
            return last;
        }
        last?.Dispose();
        return new TargetSymbols(paths, identity);
    }

    /// <summary>Gives this instance back for the next read (the one it displaces is disposed).</summary>
    public void Release() => Interlocked.Exchange(ref s_last, this)?.Dispose();

    /// <summary>What identifies a target's assemblies: each file's path, size and last write time.</summary>
    private static string Identity(IEnumerable<string> paths)
    {
        var identity = new System.Text.StringBuilder();
        foreach (string path in paths)
        {
            var file = new FileInfo(path);
            identity.Append(path).Append('|').Append(file.Length).Append('|').Append(file.LastWriteTimeUtc.Ticks).Append('\n');
        }
        return identity.ToString();
    }

    /// <param name="assemblyPaths">The target's assembly files that exist here.</param>
    /// <param name="identity">Their <see cref="Identity"/>.</param>
    private TargetSymbols(string[] assemblyPaths, string identity)
    {
        _identity = identity;
        var paths = new HashSet<string>(StringComparer.Ordinal);
        foreach (string path in assemblyPaths)
        {
            paths.Add(path);
            _modules.Add(path);
            // The target's framework directory resolves references the modules list does not name.
            if (Path.GetFileName(path).Equals("System.Private.CoreLib.dll", StringComparison.OrdinalIgnoreCase) &&
                Path.GetDirectoryName(path) is { } frameworkDir)
            {
                _coreLib = path;
                foreach (string dll in Directory.EnumerateFiles(frameworkDir, "*.dll"))
                {
                    paths.Add(dll);
                }
            }
        }
        _context = new MetadataLoadContext(new PathAssemblyResolver(paths), "System.Private.CoreLib");
    }

    /// <summary>
    /// Where <paramref name="fieldNames"/> are in an object of the non-generic type <paramref name="typeToken"/> of
    /// <paramref name="modulePath"/> (-1 for a field it lacks), as <paramref name="read"/> finds them the first time: a
    /// runtime lays a type out the same way in every process that runs the same files (its own files are among them),
    /// and asking the target's runtime costs a read milliseconds for a type with many fields (ClrMD describes all of a
    /// type's fields and statics at once, each through the runtime's data access component). Kept only for a module among
    /// the files this instance is for (a module with no file here, as in a single-file bundle, is asked every time).
    /// </summary>
    public int[] FieldOffsets(string modulePath, int typeToken, string[] fieldNames, Func<string[], int[]> read)
    {
        if (!_modules.Contains(modulePath))
        {
            return read(fieldNames);
        }
        var key = (modulePath, typeToken, string.Join('|', fieldNames));
        if (!_fieldOffsets.TryGetValue(key, out int[]? offsets))
        {
            _fieldOffsets[key] = offsets = read(fieldNames);
        }
        return offsets;
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

    /// <summary>
    /// What the metadata says about the state machine type <paramref name="typeToken"/> of <paramref name="modulePath"/>: the
    /// description in-process extraction uses, built from the target's files. Closed over the generic arguments of
    /// <paramref name="exactName"/> (the heap object's own type name, which names them; a field's type names only shared
    /// code's <c>__Canon</c>) when they resolve, else over none. Null if the type is not a state machine or cannot be read.
    /// </summary>
    public StateMachineDescription? StateMachine(string modulePath, int typeToken, string? exactName)
    {
        if (!_stateMachines.TryGetValue((modulePath, typeToken, exactName), out StateMachineDescription? result))
        {
            try
            {
                result = TypeByToken(modulePath, typeToken) is { } type ? StateMachineDescription.Create(Close(type, exactName, modulePath)) : null;
            }
            catch (Exception)
            {
                result = null;
            }
            _stateMachines[(modulePath, typeToken, exactName)] = result;
        }
        return result;
    }

    /// <summary><paramref name="definition"/> closed over the generic arguments <paramref name="exactName"/> names, or as it is.</summary>
    private Type Close(Type definition, string? exactName, string modulePath)
    {
        if (!definition.IsGenericTypeDefinition || ClrName.Parse(exactName) is not { Arguments.Count: > 0 } name)
        {
            return definition;
        }
        Type[] args = new Type[name.Arguments.Count];
        for (int i = 0; i < args.Length; i++)
        {
            if (Resolve(name.Arguments[i], modulePath) is not { } arg)
            {
                return definition;
            }
            args[i] = arg;
        }
        try
        {
            return args.Length == definition.GetGenericArguments().Length ? definition.MakeGenericType(args) : definition;
        }
        catch (Exception)
        {
            return definition;
        }
    }

    /// <summary>The target's type a ClrMD type name names, loaded in the metadata context; null if it cannot be found.</summary>
    public Type? Resolve(string? clrName, string? modulePathHint) =>
        ClrName.Parse(clrName) is { } name ? Resolve(name, modulePathHint) : null;

    private Type? Resolve(ClrName name, string? modulePathHint)
    {
        Type? type = Definition(name.Definition, modulePathHint);
        if (type is null)
        {
            return null;
        }
        if (name.Arguments.Count > 0)
        {
            var args = new Type[name.Arguments.Count];
            for (int i = 0; i < args.Length; i++)
            {
                if (Resolve(name.Arguments[i], modulePathHint) is not { } arg)
                {
                    return null;
                }
                args[i] = arg;
            }
            try
            {
                type = type.MakeGenericType(args);
            }
            catch (Exception)
            {
                return null;
            }
        }
        for (string suffix = name.ArraySuffix; suffix.Length > 0;)
        {
            int close = suffix.IndexOf(']');
            int rank = suffix[..close].Count(c => c == ',') + 1;
            type = rank == 1 ? type.MakeArrayType() : type.MakeArrayType(rank);
            suffix = suffix[(close + 1)..];
        }
        return type;
    }

    /// <summary>A type definition by full name: in the hinted module first, then CoreLib, then every module of the target.</summary>
    private Type? Definition(string fullName, string? modulePathHint)
    {
        if (_typesByName.TryGetValue(fullName, out Type? found))
        {
            return found;
        }
        foreach (string path in new[] { modulePathHint, _coreLib }.OfType<string>().Concat(_modules))
        {
            try
            {
                if (Load(path)?.GetType(fullName, throwOnError: false) is { } type)
                {
                    found = type;
                    break;
                }
            }
            catch (Exception)
            {
                // another module may have it
            }
        }
        _typesByName[fullName] = found;
        return found;
    }

    /// <summary>A heap object's type as C# writes it (<c>UnboundedChannel&lt;string&gt;</c>), through the same formatter as in process.</summary>
    public string FormatType(string? clrName, string? modulePathHint)
    {
        if (Resolve(clrName, modulePathHint) is { } type)
        {
            try
            {
                return MethodNames.FormatType(type);
            }
            catch (Exception)
            {
                // named as ClrMD names it below
            }
        }
        return clrName ?? "(unknown type)";
    }

    /// <summary>Whether a heap object's type is an IValueTaskSource (the same rule as in process, on the target's metadata).</summary>
    public bool IsValueTaskSource(string? clrName, string? modulePathHint) =>
        Resolve(clrName, modulePathHint) is { } type &&
        RuntimeTypeNames.IsValueTaskSource(type);

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
