using System.Collections.Concurrent;
using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Stackscope.Symbols;

/// <summary>A method a token refers to, by name: what the IL scan needs to recognise a call.</summary>
/// <param name="DeclaringType">The declaring type's full name (<c>System.Threading.Tasks.Parallel</c>; nested types joined with '+', generic ones by their definition).</param>
/// <param name="Name">The method's name.</param>
internal sealed record MethodName(string? DeclaringType, string Name);

/// <summary>
/// Names of the fields and methods that tokens of a module's IL refer to, read from the module's metadata with
/// System.Reflection.Metadata. <see cref="Module.ResolveField(int)"/> works only on modules loaded to run; this works
/// on those and on <c>MetadataLoadContext</c> ones alike, so the IL scan reads another process's state machines
/// exactly as it reads this process's.
/// </summary>
internal sealed class MetadataNames
{
    /// <summary>Readers by module file: a documented cache for the process (a module file's metadata does not change while it is loaded).</summary>
    private static readonly ConcurrentDictionary<string, MetadataNames?> s_byPath = new(StringComparer.Ordinal);

    private readonly MetadataReader _reader;
    private readonly PEReader _pe; // keeps the image _reader reads alive

    private MetadataNames(PEReader pe)
    {
        _pe = pe;
        _reader = _pe.GetMetadataReader();
    }

    /// <summary>The names of <paramref name="module"/>'s tokens; null for a module with no file (dynamic, single-file bundles).</summary>
    public static MetadataNames? For(Module module)
    {
        string? path = null;
        try
        {
            path = module.Assembly.IsDynamic ? null : module.FullyQualifiedName;
        }
        catch (Exception)
        {
            // no file
        }
        return string.IsNullOrEmpty(path) ? null : ForFile(path);
    }

    /// <summary>The names of the module file at <paramref name="path"/> (another process's module, read from its file); null if it has no metadata.</summary>
    public static MetadataNames? ForFile(string path) => !Path.IsPathRooted(path) ? null : s_byPath.GetOrAdd(path, Open);

    private static MetadataNames? Open(string path)
    {
        try
        {
            var pe = new PEReader(File.OpenRead(path), PEStreamOptions.PrefetchMetadata);
            return pe.HasMetadata ? new MetadataNames(pe) : null;
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>The name of the field a <c>ldfld</c>/<c>stfld</c> token refers to, or null.</summary>
    public string? FieldName(int token)
    {
        try
        {
            EntityHandle handle = MetadataTokens.EntityHandle(token);
            return handle.Kind switch
            {
                HandleKind.FieldDefinition => _reader.GetString(_reader.GetFieldDefinition((FieldDefinitionHandle)handle).Name),
                HandleKind.MemberReference => _reader.GetString(_reader.GetMemberReference((MemberReferenceHandle)handle).Name),
                _ => null,
            };
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>The method a <c>call</c>/<c>callvirt</c>/<c>newobj</c> token refers to, or null.</summary>
    public MethodName? Method(int token)
    {
        try
        {
            EntityHandle handle = MetadataTokens.EntityHandle(token);
            if (handle.Kind == HandleKind.MethodSpecification)
            {
                handle = _reader.GetMethodSpecification((MethodSpecificationHandle)handle).Method;
            }
            switch (handle.Kind)
            {
                case HandleKind.MethodDefinition:
                    MethodDefinition definition = _reader.GetMethodDefinition((MethodDefinitionHandle)handle);
                    return new MethodName(TypeName(definition.GetDeclaringType()), _reader.GetString(definition.Name));
                case HandleKind.MemberReference:
                    MemberReference reference = _reader.GetMemberReference((MemberReferenceHandle)handle);
                    return new MethodName(TypeName(reference.Parent), _reader.GetString(reference.Name));
                default:
                    return null;
            }
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>
    /// The definition name of the type a <c>TypeDef</c> token names (<c>System.Runtime.CompilerServices.AsyncTaskMethodBuilder`1+AsyncStateMachineBox`1</c>),
    /// or null: what a heap object's type is, by its method table's token, without asking the runtime to format its full name.
    /// </summary>
    public string? TypeDefinitionName(int token)
    {
        try
        {
            EntityHandle handle = MetadataTokens.EntityHandle(token);
            return handle.Kind == HandleKind.TypeDefinition ? TypeName(handle) : null;
        }
        catch (Exception)
        {
            return null;
        }
    }

    private string? TypeName(EntityHandle type)
    {
        switch (type.Kind)
        {
            case HandleKind.TypeDefinition:
                TypeDefinition definition = _reader.GetTypeDefinition((TypeDefinitionHandle)type);
                TypeDefinitionHandle outer = definition.GetDeclaringType();
                return outer.IsNil
                    ? Join(_reader.GetString(definition.Namespace), _reader.GetString(definition.Name))
                    : TypeName(outer) + "+" + _reader.GetString(definition.Name);
            case HandleKind.TypeReference:
                TypeReference reference = _reader.GetTypeReference((TypeReferenceHandle)type);
                return reference.ResolutionScope.Kind == HandleKind.TypeReference
                    ? TypeName(reference.ResolutionScope) + "+" + _reader.GetString(reference.Name)
                    : Join(_reader.GetString(reference.Namespace), _reader.GetString(reference.Name));
            case HandleKind.TypeSpecification:
                // A generic instantiation (Foo<int>): named by its definition.
                BlobReader blob = _reader.GetBlobReader(_reader.GetTypeSpecification((TypeSpecificationHandle)type).Signature);
                if (blob.ReadSignatureTypeCode() == SignatureTypeCode.GenericTypeInstance)
                {
                    blob.ReadSignatureTypeCode(); // class or valuetype
                    return TypeName(blob.ReadTypeHandle());
                }
                return null;
            default:
                return null;
        }
    }

    private static string Join(string ns, string name) => ns.Length == 0 ? name : ns + "." + name;
}
