namespace Stackscope;

/// <summary>
/// Hides a library method (or every method of a type) from logical stacks: the frame is left out and
/// the walk goes on through what it awaits.
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Constructor | AttributeTargets.Class | AttributeTargets.Struct, Inherited = false)]
public sealed class StackscopeHiddenAttribute : Attribute;
