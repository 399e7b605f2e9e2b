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
    private static readonly Guid s_hoistedLocalScopesKind = new("6DA9A61E-F8C7-4874-BE62-68BC5630DF71");
    private static readonly Guid s_embeddedSourceKind = new("0E8A571B-6926-466E-B4AD-8AB04611F5FE");

    private readonly MetadataReader _reader;
    private readonly ConcurrentDictionary<int, MethodSymbols?> _methods = new();
    private readonly ConcurrentDictionary<string, string[]?> _sources = new(StringComparer.Ordinal);

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
            var points = new List<SequencePointSpan>();
            foreach (SequencePoint sp in info.GetSequencePoints())
            {
                if (sp.IsHidden)
                {
                    points.Add(new SequencePointSpan(sp.Offset, null, 0, 0));
                    continue;
                }
                string path = _reader.GetString(_reader.GetDocument(sp.Document).Name);
                points.Add(new SequencePointSpan(sp.Offset, new SourceLocation(path, sp.StartLine, sp.StartColumn), sp.EndLine, sp.EndColumn));
            }
            points.Sort((a, b) => a.Offset.CompareTo(b.Offset));

            int[]? yieldOffsets = null;
            int[]? resumeOffsets = null;
            (int Start, int Length)[]? hoistedScopes = null;
            foreach (CustomDebugInformationHandle h in _reader.GetCustomDebugInformation(handle))
            {
                CustomDebugInformation cdi = _reader.GetCustomDebugInformation(h);
                Guid kind = _reader.GetGuid(cdi.Kind);
                if (kind == s_hoistedLocalScopesKind)
                {
                    // One (start, length) IL range per hoisted local slot: where the variable a field is named after is in scope.
                    BlobReader scopes = _reader.GetBlobReader(cdi.Value);
                    var list = new List<(int, int)>();
                    while (scopes.RemainingBytes >= 8)
                    {
                        list.Add(((int)scopes.ReadUInt32(), (int)scopes.ReadUInt32()));
                    }
                    hoistedScopes = list.ToArray();
                    continue;
                }
                if (kind != s_asyncSteppingKind)
                {
                    continue;
                }
                BlobReader blob = _reader.GetBlobReader(cdi.Value);
                blob.ReadUInt32(); // catch handler offset
                var yields = new List<int>();
                var resumes = new List<int>();
                while (blob.RemainingBytes > 0)
                {
                    yields.Add((int)blob.ReadUInt32());
                    resumes.Add((int)blob.ReadUInt32());
                    blob.ReadCompressedInteger(); // resume method
                }
                yieldOffsets = yields.ToArray();
                resumeOffsets = resumes.ToArray();
            }

            return points.Count == 0 && yieldOffsets is null ? null : new MethodSymbols(this, points.ToArray(), yieldOffsets, resumeOffsets, hoistedScopes);
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>
    /// The lines of a source document the PDB names: its embedded copy, else the file at that path if it exists;
    /// null if neither can be read. Read once per document and cached with the reader.
    /// </summary>
    public string[]? SourceLines(string documentPath) => _sources.GetOrAdd(documentPath, ReadSource);

    private string[]? ReadSource(string documentPath)
    {
        try
        {
            foreach (DocumentHandle d in _reader.Documents)
            {
                Document document = _reader.GetDocument(d);
                if (_reader.GetString(document.Name) != documentPath)
                {
                    continue;
                }
                foreach (CustomDebugInformationHandle h in _reader.GetCustomDebugInformation(d))
                {
                    CustomDebugInformation cdi = _reader.GetCustomDebugInformation(h);
                    if (_reader.GetGuid(cdi.Kind) == s_embeddedSourceKind)
                    {
                        return SplitLines(EmbeddedText(_reader.GetBlobBytes(cdi.Value)));
                    }
                }
                break;
            }
            return File.Exists(documentPath) ? File.ReadAllLines(documentPath) : null;
        }
        catch (Exception)
        {
            return null;
        }
    }

    /// <summary>An embedded source blob: a 4-byte uncompressed size (0 when stored as is), then the text, deflated if sized.</summary>
    private static string EmbeddedText(byte[] blob)
    {
        int size = BitConverter.ToInt32(blob, 0);
        if (size == 0)
        {
            return new StreamReader(new MemoryStream(blob, 4, blob.Length - 4)).ReadToEnd();
        }
        using var deflate = new System.IO.Compression.DeflateStream(new MemoryStream(blob, 4, blob.Length - 4), System.IO.Compression.CompressionMode.Decompress);
        return new StreamReader(deflate).ReadToEnd();
    }

    private static string[] SplitLines(string text) => text.ReplaceLineEndings("\n").Split('\n');

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

/// <summary>A sequence point: where it starts in IL, and the source span it covers (a null location when hidden).</summary>
internal readonly record struct SequencePointSpan(int Offset, SourceLocation? Location, int EndLine, int EndColumn)
{
    /// <summary>True when this span lies inside <paramref name="outer"/>'s and is not the same span.</summary>
    public bool IsNestedIn(SequencePointSpan outer) =>
        Location is { } inner && outer.Location is { } o && inner.FilePath == o.FilePath &&
        (inner.Line, inner.Column).CompareTo((o.Line, o.Column)) >= 0 &&
        (EndLine, EndColumn).CompareTo((outer.EndLine, outer.EndColumn)) <= 0 &&
        (inner.Line, inner.Column, EndLine, EndColumn) != (o.Line, o.Column, outer.EndLine, outer.EndColumn);
}

/// <summary>The sequence points (sorted by IL offset), async yield and resume offsets, and hoisted local scopes of one method.</summary>
internal sealed class MethodSymbols
{
    private readonly PdbSymbols _pdb;
    private readonly SequencePointSpan[] _points;
    private readonly (int Start, int Length)[]? _hoistedScopes;

    public MethodSymbols(PdbSymbols pdb, SequencePointSpan[] points, int[]? yieldOffsets, int[]? resumeOffsets, (int Start, int Length)[]? hoistedScopes)
    {
        _pdb = pdb;
        _points = points;
        YieldOffsets = yieldOffsets;
        ResumeOffsets = resumeOffsets;
        _hoistedScopes = hoistedScopes;
    }

    /// <summary>
    /// Whether the variable a hoisted local field is named after (<c>&lt;name&gt;5__<paramref name="slot"/></c>) is the
    /// one in scope at <paramref name="ilOffset"/>: true, false, or null when the PDB does not say. A Release build
    /// reuses one field for same-typed locals whose scopes do not overlap, and names it after the first; the PDB's
    /// hoisted local scopes give that first variable's range only.
    /// </summary>
    public bool? IsHoistedNameInScope(int slot, int ilOffset) =>
        _hoistedScopes is { } scopes && slot >= 1 && slot <= scopes.Length && scopes[slot - 1] is { Length: > 0 } scope
            ? ilOffset >= scope.Start && ilOffset < scope.Start + scope.Length
            : null;

    /// <summary>
    /// The name of the variable declared by the statement around <paramref name="ilOffset"/> (<c>var outer = ...</c>,
    /// <c>using Lease outer = ...</c>), read from the source the PDB names; null if it is not a declaration or the source
    /// cannot be read.
    /// </summary>
    public string? DeclaredNameAt(int ilOffset)
    {
        if (FindPoint(ilOffset) is not { Location: { } start } point || _pdb.SourceLines(start.FilePath) is not { } lines ||
            start.Line < 1 || point.EndLine > lines.Length || point.EndLine < start.Line)
        {
            return null;
        }
        var text = new System.Text.StringBuilder();
        for (int line = start.Line; line <= point.EndLine; line++)
        {
            string content = lines[line - 1];
            int from = line == start.Line ? Math.Min(start.Column - 1, content.Length) : 0;
            int to = line == point.EndLine ? Math.Min(point.EndColumn - 1, content.Length) : content.Length;
            text.Append(content, from, Math.Max(0, to - from)).Append(' ');
        }
        return SourceText.DeclaredName(text.ToString());
    }

    /// <summary>The IL offsets where the method yields at each await, in await order; null if the PDB records none.</summary>
    public int[]? YieldOffsets { get; }

    /// <summary>The IL offsets where the method resumes after each await, in await order; null if the PDB records none.</summary>
    public int[]? ResumeOffsets { get; }

    /// <summary>The statement containing <paramref name="ilOffset"/>: the last visible sequence point at or before it.</summary>
    public SourceLocation? FindLocation(int ilOffset) => FindPoint(ilOffset)?.Location;

    private SequencePointSpan? FindPoint(int ilOffset)
    {
        SequencePointSpan? found = null;
        foreach (SequencePointSpan point in _points)
        {
            if (point.Offset > ilOffset)
            {
                break;
            }
            if (point.Location is not null)
            {
                found = point;
            }
        }
        return found;
    }

    /// <summary>
    /// The source location of the await numbered <paramref name="index"/> (0-based, the state number), or null when
    /// the PDB has no async stepping information for it. With the method's IL (<paramref name="body"/>) it is
    /// exact: the statement is the last visible sequence point on the control-flow path to the await's yield
    /// (not the IL order, which may put another switch arm or branch just before it); and where the await is
    /// spilled out of a sub-expression that has a sequence point of its own (a switch expression's arm), that
    /// narrower point is the first one met straight after the await resumes, inside the statement's span.
    /// Without the IL, the last visible sequence point before the yield in IL order.
    /// </summary>
    public SourceLocation? AwaitLocation(int index, ILScanner.Body? body)
    {
        if (YieldOffsets is not { } yields || (uint)index >= (uint)yields.Length)
        {
            return null;
        }
        if (body is null)
        {
            return FindLocation(yields[index]);
        }
        SequencePointSpan? statement = FirstVisible(body.PathTo(yields[index])) ?? FindPoint(yields[index]);
        if (statement is { } s && ResumeOffsets is { } resumes && index < resumes.Length &&
            FirstVisible(body.StraightFrom(resumes[index])) is { } after && after.IsNestedIn(s))
        {
            return after.Location;
        }
        return statement?.Location;
    }

    private SequencePointSpan? FirstVisible(IEnumerable<int> offsets)
    {
        foreach (int offset in offsets)
        {
            if (VisibleAt(offset) is { } point)
            {
                return point;
            }
        }
        return null;
    }

    /// <summary>The visible sequence point starting exactly at <paramref name="ilOffset"/>, or null.</summary>
    private SequencePointSpan? VisibleAt(int ilOffset)
    {
        int lo = 0, hi = _points.Length - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_points[mid].Offset < ilOffset)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        // Several points may start at one offset (a hidden one, then a visible one): take the last visible.
        SequencePointSpan? found = null;
        for (int i = lo; i < _points.Length && _points[i].Offset == ilOffset; i++)
        {
            if (_points[i].Location is not null)
            {
                found = _points[i];
            }
        }
        return found;
    }
}

/// <summary>Reads C# source text around a sequence point.</summary>
internal static class SourceText
{
    /// <summary>
    /// The variable a declaration names: the identifier before its first top-level <c>=</c> (<c>var outer = new Lease()</c>
    /// gives <c>outer</c>), when a type precedes it; null for anything else.
    /// </summary>
    public static string? DeclaredName(string declaration)
    {
        int depth = 0;
        for (int i = 0; i < declaration.Length; i++)
        {
            char c = declaration[i];
            if (c is '(' or '[' or '{')
            {
                depth++;
            }
            else if (c is ')' or ']' or '}')
            {
                depth--;
            }
            else if (c == '=' && depth == 0)
            {
                char next = i + 1 < declaration.Length ? declaration[i + 1] : ' ';
                char previous = i > 0 ? declaration[i - 1] : ' ';
                if (next is '=' or '>' || previous is '=' or '!' or '<' or '>')
                {
                    return null; // a comparison or a lambda before any declarator
                }
                int end = i;
                while (end > 0 && char.IsWhiteSpace(declaration[end - 1]))
                {
                    end--;
                }
                int begin = end;
                while (begin > 0 && IsIdentifierPart(declaration[begin - 1]))
                {
                    begin--;
                }
                // A declaration has a type (or var) before its name; a bare assignment does not.
                bool typed = declaration.AsSpan(0, begin).Trim().Length > 0;
                return begin < end && typed && !char.IsAsciiDigit(declaration[begin]) ? declaration[begin..end].TrimStart('@') : null;
            }
        }
        return null;
    }

    private static bool IsIdentifierPart(char c) => char.IsLetterOrDigit(c) || c is '_' or '@';
}
