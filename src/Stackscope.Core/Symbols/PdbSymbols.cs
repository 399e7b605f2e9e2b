using System.Collections.Concurrent;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace Stackscope.Symbols;

/// <summary>
/// Reads portable PDBs (beside the assembly or embedded in it) for sequence points and async stepping
/// information. One reader is opened per assembly and kept for the life of the process: this is a
/// documented cache, as <c>System.Diagnostics.StackTrace</c> keeps its own.
/// </summary>
internal sealed class PdbSymbols
{
    private static readonly ConcurrentDictionary<Assembly, PdbSymbols?> s_byAssembly = new();
    private static readonly ConcurrentDictionary<string, PdbSymbols?> s_byPath = new(StringComparer.Ordinal);
    private static readonly Guid s_asyncSteppingKind = new("54FD2AC5-E925-401A-9C2A-F94F171072F8");

    private readonly MetadataReader _reader;
    private readonly ConcurrentDictionary<int, MethodSymbols?> _methods = new();

    // The provider owns the memory the reader points into; it must live as long as the reader.
    private readonly MetadataReaderProvider _provider;

    private PdbSymbols(MetadataReaderProvider provider)
    {
        _provider = provider;
        _reader = provider.GetMetadataReader();
    }

    /// <summary>The symbols of <paramref name="assembly"/>, or null if it has no readable portable PDB.</summary>
    public static PdbSymbols? For(Assembly assembly) =>
        s_byAssembly.GetOrAdd(assembly, static a => a.IsDynamic || string.IsNullOrEmpty(a.Location) ? null : ForFile(a.Location));

    /// <summary>The symbols of the assembly file at <paramref name="assemblyPath"/> (another process's module), or null.</summary>
    public static PdbSymbols? ForFile(string assemblyPath) => s_byPath.GetOrAdd(assemblyPath, Open);

    /// <summary>The sequence points and async stepping information of one method, or null if the PDB has none.</summary>
    public MethodSymbols? GetMethod(int methodToken) => _methods.GetOrAdd(methodToken, ReadMethod);

    private MethodSymbols? ReadMethod(int methodToken)
    {
        try
        {
            var handle = (MethodDefinitionHandle)MetadataTokens.EntityHandle(methodToken);
            MethodDebugInformation info = _reader.GetMethodDebugInformation(handle);
            var points = new List<(int Offset, SourceLocation? Location)>();
            foreach (SequencePoint sp in info.GetSequencePoints())
            {
                if (sp.IsHidden)
                {
                    points.Add((sp.Offset, null));
                    continue;
                }
                string path = _reader.GetString(_reader.GetDocument(sp.Document).Name);
                points.Add((sp.Offset, new SourceLocation(path, sp.StartLine, sp.StartColumn)));
            }
            points.Sort((a, b) => a.Offset.CompareTo(b.Offset));

            int[]? yieldOffsets = null;
            foreach (CustomDebugInformationHandle h in _reader.GetCustomDebugInformation(handle))
            {
                CustomDebugInformation cdi = _reader.GetCustomDebugInformation(h);
                if (_reader.GetGuid(cdi.Kind) != s_asyncSteppingKind)
                {
                    continue;
                }
                BlobReader blob = _reader.GetBlobReader(cdi.Value);
                blob.ReadUInt32(); // catch handler offset
                var yields = new List<int>();
                while (blob.RemainingBytes > 0)
                {
                    yields.Add((int)blob.ReadUInt32());
                    blob.ReadUInt32(); // resume offset
                    blob.ReadCompressedInteger(); // resume method
                }
                yieldOffsets = yields.ToArray();
            }

            return points.Count == 0 && yieldOffsets is null ? null : new MethodSymbols(points.ToArray(), yieldOffsets);
        }
        catch (Exception)
        {
            return null;
        }
    }

    private static PdbSymbols? Open(string assemblyPath)
    {
        try
        {
            string pdbPath = Path.ChangeExtension(assemblyPath, ".pdb");
            if (File.Exists(pdbPath))
            {
                // Read the whole file so no handle stays open on it (a build may want to overwrite it).
                byte[] image = File.ReadAllBytes(pdbPath);
                return new PdbSymbols(MetadataReaderProvider.FromPortablePdbImage(ImmutableCollectionsMarshal.AsImmutableArray(image)));
            }

            if (!File.Exists(assemblyPath))
            {
                return null;
            }
            using var peStream = File.OpenRead(assemblyPath);
            using var pe = new PEReader(peStream);
            foreach (DebugDirectoryEntry entry in pe.ReadDebugDirectory())
            {
                if (entry.Type == DebugDirectoryEntryType.EmbeddedPortablePdb)
                {
                    return new PdbSymbols(pe.ReadEmbeddedPortablePdbDebugDirectoryData(entry));
                }
            }
        }
        catch (Exception)
        {
            // A Windows PDB, a locked or corrupt file: fall back to no lines, as promised without symbols.
        }
        return null;
    }
}

/// <summary>The sequence points (sorted by IL offset) and async yield offsets of one method.</summary>
internal sealed class MethodSymbols
{
    private readonly (int Offset, SourceLocation? Location)[] _points;

    public MethodSymbols((int Offset, SourceLocation? Location)[] points, int[]? yieldOffsets)
    {
        _points = points;
        YieldOffsets = yieldOffsets;
    }

    /// <summary>The IL offsets where the method yields at each await, in await order; null if the PDB records none.</summary>
    public int[]? YieldOffsets { get; }

    /// <summary>The statement containing <paramref name="ilOffset"/>: the last visible sequence point at or before it.</summary>
    public SourceLocation? FindLocation(int ilOffset)
    {
        SourceLocation? found = null;
        foreach (var (offset, location) in _points)
        {
            if (offset > ilOffset)
            {
                break;
            }
            if (location is not null)
            {
                found = location;
            }
        }
        return found;
    }
}
