using System.Reflection;
using Stackscope.Symbols;

namespace Stackscope.Runtime;

/// <summary>
/// What the metadata says about one compiler-generated state machine type: the method it implements and its display
/// name, its kind, its awaiter fields, and its suspension points (awaits and yields, with lines, the awaiter field each
/// await stores its awaiter in, and the resources active there). Built from metadata alone (names, IL, the PDB), never
/// from a live object: the same description serves this process's types and another process's, loaded in a
/// <c>MetadataLoadContext</c>, which is what makes a frame read from a dump the frame read in process.
/// </summary>
internal sealed class StateMachineDescription
{
    private StateMachineDescription(Type type, FrameKind kind, MethodInfo? kickoff, string displayName, Dictionary<int, SuspensionPoint> points,
        string[] awaiterFields, string[] innerIteratorFields)
    {
        Type = type;
        Kind = kind;
        Kickoff = kickoff;
        DisplayName = displayName;
        Points = points;
        AwaiterFields = awaiterFields;
        InnerIteratorFields = innerIteratorFields;
        int size = points.Keys.Where(k => k >= 0).DefaultIfEmpty(-1).Max() + 1;
        PointsByState = new SuspensionPoint?[Math.Min(size, 4096)];
        _plainFrames = new LogicalFrame?[PointsByState.Length];
        foreach (var (state, point) in points)
        {
            if ((uint)state < (uint)PointsByState.Length)
            {
                PointsByState[state] = point;
            }
        }
        IsParallelWorker = ParallelLoops.IsWorker(type);
        IsHidden = kickoff is not null && IsMarkedHidden(kickoff);
    }

    /// <summary>
    /// Whether <see cref="StackscopeHiddenAttribute"/> hides the method's frames (on the method, or on its type or an enclosing
    /// one): read from attribute data by name, so the target's own marks hide its frames out of process too.
    /// </summary>
    public bool IsHidden { get; }

    private static bool IsMarkedHidden(MethodInfo method)
    {
        static bool Marked(MemberInfo member) =>
            member.CustomAttributes.Any(a => a.AttributeType.FullName == "Stackscope.StackscopeHiddenAttribute");
        if (Marked(method))
        {
            return true;
        }
        for (Type? t = method.DeclaringType; t is not null; t = t.DeclaringType)
        {
            if (Marked(t.IsGenericType && !t.IsGenericTypeDefinition ? t.GetGenericTypeDefinition() : t))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The state machine type described (closed when the description was made for a closed type).</summary>
    public Type Type { get; }

    public FrameKind Kind { get; }

    /// <summary>The method the state machine implements, closed over the type's generic arguments; null if not found.</summary>
    public MethodInfo? Kickoff { get; }

    public string DisplayName { get; }

    /// <summary>The awaiter fields (<c>&lt;&gt;u__N</c>), in declaration order: <see cref="SuspensionPoint.AwaiterIndex"/> indexes this.</summary>
    public string[] AwaiterFields { get; }

    /// <summary>
    /// The fields that can hold the enumerator of a <c>foreach</c> over another iterator (<c>&lt;&gt;7__wrapN</c> in Release builds,
    /// <c>&lt;&gt;s__N</c> in Debug builds, typed as an interface or object): where an iterator suspended at a yield continues.
    /// </summary>
    public string[] InnerIteratorFields { get; }

    public Dictionary<int, SuspensionPoint> Points { get; }

    /// <summary>The points of non-negative states by state number: the common lookup, without hashing.</summary>
    public SuspensionPoint?[] PointsByState { get; }

    public bool IsParallelWorker { get; }

    /// <summary>The suspension point for a state number, or null.</summary>
    public SuspensionPoint? PointFor(int state) =>
        (uint)state < (uint)PointsByState.Length ? PointsByState[state]
        : Points.TryGetValue(state, out SuspensionPoint? p) ? p : null;

    /// <summary>
    /// What a state number says about a frame with no suspension point for it: not started, completed, running, or
    /// unknown. The one rule for both sides of the process boundary.
    /// </summary>
    public FrameState StateWithoutPoint(int state) => (Kind, state) switch
    {
        (FrameKind.Iterator, 0 or -2) => FrameState.NotStarted,
        (FrameKind.AsyncIterator, -3) => FrameState.NotStarted,
        (_, -2) => FrameState.Completed,
        (_, -1) => FrameState.Running,
        _ => FrameState.Unknown,
    };

    /// <summary>
    /// A frame of this state machine: the one way a frame is made from what was read, in process (with the running
    /// <paramref name="method"/>) and out of process (names only).
    /// </summary>
    /// <param name="state">What the frame is doing.</param>
    /// <param name="point">The await or yield it is suspended at, if known.</param>
    /// <param name="flags">Flags (root, junction, ...).</param>
    /// <param name="resources">The resources it holds there.</param>
    /// <param name="method">The method object, in process; null out of process (the metadata context's objects are not the target's).</param>
    /// <param name="location">Where a running frame is (a thread's IL offset); else the point's line.</param>
    /// <remarks>
    /// A suspended frame with nothing of its own (no resources, no flags, no location but its point's) is the same every
    /// time, and frames are immutable: it is made once per await and shared, so a 100-frame extraction allocates none of
    /// them. Two threads making the first one at once each make one; either is kept.
    /// </remarks>
    public LogicalFrame Frame(FrameState state, SuspensionPoint? point, FrameFlags flags = FrameFlags.None, IReadOnlyList<HeldResource>? resources = null,
        MethodBase? method = null, SourceLocation? location = null)
    {
        // A frame with nothing of its own is the same every time: made once per point, by the point's state number.
        int slot = state == FrameState.Suspended && point is not null && flags == FrameFlags.None && resources is null && location is null &&
            (uint)point.State < (uint)PointsByState.Length && ReferenceEquals(PointsByState[point.State], point) ? point.State : -1;
        if (slot >= 0 && _plainFrames[slot] is { } shared && ReferenceEquals(shared.Method, method))
        {
            return shared;
        }
        var frame = new LogicalFrame(Kind, DisplayName, method, state, point is { IsYield: false } ? point.Number : null, location ?? point?.Location, flags,
            point is { IsYield: true } ? point.Number : null, resources, declaringTypeName: Kickoff?.DeclaringType?.FullName, methodName: Kickoff?.Name);
        if (slot >= 0)
        {
            _plainFrames[slot] = frame;
        }
        return frame;
    }

    /// <summary>The shared frame of each state's point (see <see cref="Frame"/>), made when first asked for.</summary>
    private readonly LogicalFrame?[] _plainFrames;

    /// <summary>The description of <paramref name="smType"/>, or null if it is not a compiler-generated state machine.</summary>
    /// <remarks>Not cached here: the caller owns the cache (for the process in <see cref="StateMachineModel"/>; for a snapshot out of process).</remarks>
    public static StateMachineDescription? Create(Type smType)
    {
        bool isAsync = RuntimeTypeNames.Implements(smType, "System.Runtime.CompilerServices.IAsyncStateMachine");
        if (!isAsync && !(MethodNames.IsCompilerGenerated(smType.Name) && RuntimeTypeNames.Implements(smType, "System.Collections.IEnumerator")))
        {
            return null;
        }

        MethodInfo? kickoff = MethodNames.FindKickoffMethod(smType);
        FrameKind kind = (kickoff is null ? null : MethodNames.StateMachineAttributeOf(kickoff)?.AttributeType.Name) switch
        {
            "AsyncIteratorStateMachineAttribute" => FrameKind.AsyncIterator,
            "IteratorStateMachineAttribute" => FrameKind.Iterator,
            "AsyncStateMachineAttribute" => FrameKind.Async,
            _ => isAsync
                ? (RuntimeTypeNames.Implements(smType, "System.Collections.Generic.IAsyncEnumerator`1") ? FrameKind.AsyncIterator : FrameKind.Async)
                : FrameKind.Iterator,
        };

        string display = kickoff is not null
            ? MethodNames.Describe(kickoff, kind == FrameKind.Iterator ? null : "async")
            : MethodNames.FormatType(smType);

        var awaiters = new List<string>();
        var inner = new List<string>();
        foreach (FieldInfo f in FieldPath.AllFields(smType))
        {
            if (f.Name.StartsWith("<>u__", StringComparison.Ordinal))
            {
                awaiters.Add(f.Name);
            }
            // A foreach's hoisted enumerator: "<>7__wrapN" in Release builds, "<>s__N" in Debug builds.
            else if ((f.Name.StartsWith("<>7__wrap", StringComparison.Ordinal) || f.Name.StartsWith("<>s__", StringComparison.Ordinal)) &&
                     !f.FieldType.IsValueType && (f.FieldType.IsInterface || f.FieldType.FullName == "System.Object"))
            {
                inner.Add(f.Name);
            }
        }
        return new StateMachineDescription(smType, kind, kickoff, display, ReadPoints(smType, kind, awaiters), awaiters.ToArray(), inner.ToArray());
    }

    private static Dictionary<int, SuspensionPoint> ReadPoints(Type smType, FrameKind kind, List<string> awaiterFields)
    {
        var points = new Dictionary<int, SuspensionPoint>();
        try
        {
            Type definition = smType.IsGenericType ? smType.GetGenericTypeDefinition() : smType;
            MethodInfo? moveNext = definition.GetMethod("MoveNext", BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic, Type.EmptyTypes);
            if (moveNext is null || ILScanner.Body.Read(moveNext) is not { } body)
            {
                return points;
            }
            MethodSymbols? symbols = PdbSymbols.For(definition.Assembly)?.GetMethod(moveNext.MetadataToken);
            List<DisposalRegion> regions = ResourceRegions(body, definition);
            foreach (StateStore store in body.StateStores())
            {
                int state = store.State;
                bool isAwait = state >= 0 && kind != FrameKind.Iterator;
                bool isYield = kind switch
                {
                    FrameKind.Iterator => state >= 1,
                    FrameKind.AsyncIterator => state <= -4,
                    _ => false,
                };
                if ((!isAwait && !isYield) || points.ContainsKey(state))
                {
                    continue;
                }

                // The state number selects the await; the PDB's async stepping information gives that
                // await's yield and resume offsets, from which the await's line is read. Fall back to the
                // statement around the state store when the PDB has no stepping information.
                SourceLocation? location = isAwait ? symbols?.AwaitLocation(state, body) : null;
                location ??= symbols?.FindLocation(store.ILOffset);

                ResourceSlot[] resources = regions
                    .Where(r => r.TryStart <= store.ILOffset && store.ILOffset < r.TryEnd)
                    .Select(r => new ResourceSlot(r.Field, VariableName(r, store.ILOffset, symbols), r.IsAsync, r.InitOffset < 0 ? null : symbols?.FindLocation(r.InitOffset)))
                    .ToArray();

                int number = isAwait ? state + 1 : kind == FrameKind.Iterator ? state : -state - 3;
                int awaiterIndex = store.AwaiterField is null ? -1 : awaiterFields.IndexOf(store.AwaiterField);
                MethodName? awaitedCall = isAwait ? body.AwaitedCall(store.ILOffset) : null;
                points[state] = new SuspensionPoint(number, isYield, store.AwaiterField, location, resources, awaiterIndex, awaitedCall, state);
            }
        }
        catch (Exception)
        {
            // No IL or no symbols: frames still show method and state.
        }
        return points;
    }

    /// <summary>
    /// The disposal regions that guard resources, outermost first. A synchronous <c>foreach</c>'s enumerator
    /// is disposed the same way as a <c>using</c> resource but is not one, so it is left out.
    /// </summary>
    private static List<DisposalRegion> ResourceRegions(ILScanner.Body body, Type definition)
    {
        var regions = new List<DisposalRegion>();
        foreach (DisposalRegion region in body.DisposalRegions())
        {
            Type? fieldType = FieldPath.FindField(definition, region.Field)?.FieldType;
            if (fieldType is null || (!region.IsAsync && RuntimeTypeNames.Implements(fieldType, "System.Collections.IEnumerator")))
            {
                continue;
            }
            regions.Add(region);
        }
        regions.Sort((a, b) => a.TryStart != b.TryStart ? a.TryStart.CompareTo(b.TryStart) : b.TryEnd.CompareTo(a.TryEnd));
        return regions;
    }

    /// <summary>
    /// The C# name of the variable a region's field holds at <paramref name="ilOffset"/>. <c>&lt;name&gt;5__2</c> is the
    /// hoisted local <c>name</c>, unless the PDB says that variable is out of scope there: a Release build reuses
    /// one field for same-typed locals in scopes that do not overlap, named after the first. Then the name is the
    /// one the using statement declares, read from the source (null if it cannot be read: no name rather than a
    /// wrong one). Other hoisted fields (<c>using (expression)</c>, enumerators) have no C# name.
    /// </summary>
    private static string? VariableName(DisposalRegion region, int ilOffset, MethodSymbols? symbols)
    {
        string field = region.Field;
        int close = field.IndexOf('>');
        if (!field.StartsWith('<') || close <= 1 || !field.AsSpan(close).StartsWith(">5__"))
        {
            return null;
        }
        string name = field[1..close];
        if (symbols is null || !int.TryParse(field.AsSpan(close + 4), System.Globalization.NumberStyles.None, null, out int slot) ||
            symbols.IsHoistedNameInScope(slot, ilOffset) != false)
        {
            return name;
        }
        return region.InitOffset >= 0 ? symbols.DeclaredNameAt(region.InitOffset) : null;
    }
}
