using System.Reflection;

namespace Stackscope.Glue;

/// <summary>
/// A library's teaching for Stackscope: registers unwrappers, frame elaborators and resource describers
/// (the counterpart of Python stackscope's <c>unwrap_stackitem</c>, <c>elaborate_frame</c> and
/// <c>unwrap_context</c> hooks). Mark the assembly with <see cref="StackscopeGlueAttribute"/> and it is found
/// automatically when the assembly is loaded, or call <see cref="StackscopeGlue.Register"/>.
/// </summary>
public interface IStackscopeGlue
{
    /// <summary>Registers this glue's hooks. Called once per process.</summary>
    /// <param name="glue">The builder to register hooks with.</param>
    void Register(StackscopeGlueBuilder glue);
}

/// <summary>Names the <see cref="IStackscopeGlue"/> an assembly provides, so Stackscope finds it when the assembly loads.</summary>
/// <param name="glueType">A type implementing <see cref="IStackscopeGlue"/> with a public parameterless constructor.</param>
[AttributeUsage(AttributeTargets.Assembly, AllowMultiple = true)]
public sealed class StackscopeGlueAttribute(Type glueType) : Attribute
{
    /// <summary>The glue type.</summary>
    public Type GlueType { get; } = glueType;
}

/// <summary>What an unwrapper says about an object: a description and the object(s) to continue with.</summary>
/// <param name="Description">
/// One line describing the object. With one object to continue with it names a combinator frame shown
/// between the caller and that object; with several it describes the branch point.
/// </param>
/// <param name="Next">
/// The objects to continue with: none (the object is a leaf), one (the stack continues into it), or several
/// (each becomes a child stack). A ready <see cref="LogicalStack"/> (read in another process, say) continues the stack
/// with its frames, leaf and branches as they are.
/// </param>
public sealed record Unwrapped(string Description, IReadOnlyList<object> Next)
{
    /// <summary>An object that is a leaf: nothing to continue with.</summary>
    /// <param name="description">The leaf's description.</param>
    public static Unwrapped Leaf(string description) => new(description, Array.Empty<object>());

    /// <summary>An object that stands for other objects.</summary>
    /// <param name="description">The description.</param>
    /// <param name="next">The objects to continue with.</param>
    public static Unwrapped To(string description, params object[] next) => new(description, next);
}

/// <summary>What a frame elaborator does with a frame. Default: nothing.</summary>
public sealed record FrameElaboration
{
    /// <summary>Leave the frame out (the walk still goes on through what it awaits).</summary>
    public bool Hide { get; init; }

    /// <summary>Stop the walk at this frame: what it awaits is not shown.</summary>
    public bool PruneInner { get; init; }

    /// <summary>Stacks to link to this frame, each extracted from its root with a label.</summary>
    public IReadOnlyList<StackLink> Links { get; init; } = Array.Empty<StackLink>();

    /// <summary>An elaboration that hides the frame.</summary>
    public static FrameElaboration Hidden { get; } = new() { Hide = true };
}

/// <summary>A stack to link to a frame: where the frame's work continues.</summary>
/// <param name="Label">How they relate, e.g. "continues in actor /user/b".</param>
/// <param name="Root">
/// What to extract the linked stack from: anything <see cref="StackExtractor.Extract(object?, ExtractOptions?)"/>
/// accepts, or a ready <see cref="LogicalStack"/>.
/// </param>
public sealed record StackLink(string Label, object? Root);

/// <summary>What a resource describer says about a held resource.</summary>
/// <param name="Description">A one-line description, e.g. "holds SemaphoreSlim (0 of 1 free)".</param>
/// <param name="InnerStackRoot">An object whose stack is shown under the resource (suspended async code the resource stands for), or null.</param>
public sealed record ResourceDescription(string Description, object? InnerStackRoot = null);

/// <summary>The frame a frame elaborator is asked about, with access to its state machine.</summary>
public sealed class FrameContext
{
    private readonly Runtime.StateMachineModel _model;
    private readonly object _holder;

    internal FrameContext(LogicalFrame frame, Runtime.StateMachineModel model, object holder, GlueContext extraction)
    {
        Frame = frame;
        _model = model;
        _holder = holder;
        Extraction = extraction;
    }

    /// <summary>The frame as Stackscope read it.</summary>
    public LogicalFrame Frame { get; }

    /// <summary>The extraction this frame is part of, with its per-extraction items.</summary>
    public GlueContext Extraction { get; }

    /// <summary>The <c>this</c> of the async method (its hoisted <c>&lt;&gt;4__this</c>), or null for static methods.</summary>
    public object? This => GetField("<>4__this");

    /// <summary>
    /// Reads a hoisted variable of the suspended method: a parameter or a local by its C# name, or a
    /// compiler-generated field by its exact name. Null if there is no such variable: in Release builds the
    /// compiler hoists only what is used after an await, so a parameter or local the method no longer needs
    /// cannot be read. Glue should read what the method keeps using, or <see cref="This"/>.
    /// </summary>
    /// <param name="name">The variable's name.</param>
    public object? GetField(string name) => _model.HoistedReader(name)?.Invoke(_holder);
}

/// <summary>Collects one glue's hooks. Hooks must be fast, must not block, and must not change program state.</summary>
/// <remarks>
/// Every hook may decline an object by returning null: Stackscope then treats it as if no hook were registered
/// (an unwrapper that declines leaves the object to Stackscope's own description). Hooks that need to know which
/// extraction they serve take a <see cref="GlueContext"/>: its <see cref="GlueContext.Items"/> live for one
/// extraction (one <c>Extract</c>, or one forest), so glue needs no thread-static or global state.
/// </remarks>
public sealed class StackscopeGlueBuilder
{
    internal StackscopeGlueBuilder(string glueName) => GlueName = glueName;

    internal string GlueName { get; }
    internal List<(Type Type, Func<object, GlueContext, Unwrapped?> Hook)> Unwrappers { get; } = new();
    internal List<(Func<MethodBase, bool> AppliesTo, Func<FrameContext, FrameElaboration?> Hook)> Elaborators { get; } = new();
    internal List<(Type Type, Func<object, GlueContext, ResourceDescription?> Hook)> Describers { get; } = new();

    /// <summary>Teaches Stackscope what an awaitable or object of type <typeparamref name="T"/> (or derived) stands for.</summary>
    /// <typeparam name="T">The type.</typeparam>
    /// <param name="unwrap">Returns what the object stands for, or null to decline it (Stackscope describes it).</param>
    public StackscopeGlueBuilder Unwrap<T>(Func<T, Unwrapped?> unwrap) where T : notnull
    {
        ArgumentNullException.ThrowIfNull(unwrap);
        return Unwrap(typeof(T), (o, _) => unwrap((T)o));
    }

    /// <summary>Like <see cref="Unwrap{T}(Func{T, Unwrapped})"/>, with the extraction the object is met in.</summary>
    /// <typeparam name="T">The type.</typeparam>
    /// <param name="unwrap">Returns what the object stands for, or null to decline it.</param>
    public StackscopeGlueBuilder Unwrap<T>(Func<T, GlueContext, Unwrapped?> unwrap) where T : notnull
    {
        ArgumentNullException.ThrowIfNull(unwrap);
        return Unwrap(typeof(T), (o, context) => unwrap((T)o, context));
    }

    /// <summary>
    /// Like <see cref="Unwrap{T}(Func{T, Unwrapped})"/>, for types that cannot be named in C# (internal ones, found by name) or open
    /// generic definitions (which match every instantiation).
    /// </summary>
    /// <param name="type">The type, or an open generic definition.</param>
    /// <param name="unwrap">Returns what the object stands for, or null to decline it.</param>
    public StackscopeGlueBuilder Unwrap(Type type, Func<object, Unwrapped?> unwrap)
    {
        ArgumentNullException.ThrowIfNull(unwrap);
        return Unwrap(type, (o, _) => unwrap(o));
    }

    /// <summary>Like <see cref="Unwrap(Type, Func{object, Unwrapped})"/>, with the extraction the object is met in.</summary>
    /// <param name="type">The type, or an open generic definition.</param>
    /// <param name="unwrap">Returns what the object stands for, or null to decline it.</param>
    public StackscopeGlueBuilder Unwrap(Type type, Func<object, GlueContext, Unwrapped?> unwrap)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(unwrap);
        Unwrappers.Add((type, unwrap));
        return this;
    }

    /// <summary>Elaborates frames of one method: hide them, prune what they await, or link stacks to them.</summary>
    /// <param name="method">The method as declared (for an async method, the method itself, not its MoveNext).</param>
    /// <param name="elaborate">Returns the elaboration, or null for none.</param>
    public StackscopeGlueBuilder ElaborateFrame(MethodBase method, Func<FrameContext, FrameElaboration?> elaborate)
    {
        ArgumentNullException.ThrowIfNull(method);
        return ElaborateFrames(m => m.HasSameMetadataDefinitionAs(method), elaborate);
    }

    /// <summary>Elaborates the frames of every method <paramref name="appliesTo"/> accepts (asked once per method).</summary>
    /// <param name="appliesTo">Selects methods.</param>
    /// <param name="elaborate">Returns the elaboration, or null for none.</param>
    public StackscopeGlueBuilder ElaborateFrames(Func<MethodBase, bool> appliesTo, Func<FrameContext, FrameElaboration?> elaborate)
    {
        ArgumentNullException.ThrowIfNull(appliesTo);
        ArgumentNullException.ThrowIfNull(elaborate);
        Elaborators.Add((appliesTo, elaborate));
        return this;
    }

    /// <summary>Describes held resources of type <typeparamref name="T"/> (or derived).</summary>
    /// <typeparam name="T">The resource type.</typeparam>
    /// <param name="describe">Returns a description, or null to decline.</param>
    public StackscopeGlueBuilder DescribeResource<T>(Func<T, ResourceDescription?> describe) where T : notnull
    {
        ArgumentNullException.ThrowIfNull(describe);
        return DescribeResource(typeof(T), (o, _) => describe((T)o));
    }

    /// <summary>Like <see cref="DescribeResource{T}(Func{T, ResourceDescription})"/>, with the extraction the resource is met in.</summary>
    /// <typeparam name="T">The resource type.</typeparam>
    /// <param name="describe">Returns a description, or null to decline.</param>
    public StackscopeGlueBuilder DescribeResource<T>(Func<T, GlueContext, ResourceDescription?> describe) where T : notnull
    {
        ArgumentNullException.ThrowIfNull(describe);
        return DescribeResource(typeof(T), (o, context) => describe((T)o, context));
    }

    /// <summary>Like <see cref="DescribeResource{T}(Func{T, ResourceDescription})"/>, for types named at run time or open generic definitions.</summary>
    /// <param name="type">The type, or an open generic definition.</param>
    /// <param name="describe">Returns a description, or null to decline.</param>
    public StackscopeGlueBuilder DescribeResource(Type type, Func<object, ResourceDescription?> describe)
    {
        ArgumentNullException.ThrowIfNull(describe);
        return DescribeResource(type, (o, _) => describe(o));
    }

    /// <summary>Like <see cref="DescribeResource(Type, Func{object, ResourceDescription})"/>, with the extraction the resource is met in.</summary>
    /// <param name="type">The type, or an open generic definition.</param>
    /// <param name="describe">Returns a description, or null to decline.</param>
    public StackscopeGlueBuilder DescribeResource(Type type, Func<object, GlueContext, ResourceDescription?> describe)
    {
        ArgumentNullException.ThrowIfNull(type);
        ArgumentNullException.ThrowIfNull(describe);
        Describers.Add((type, describe));
        return this;
    }
}
