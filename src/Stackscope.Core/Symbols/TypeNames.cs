using Stackscope.Symbols;

namespace Stackscope.Glue;

/// <summary>Type names as C# writes them (<c>Dictionary&lt;string, int&gt;</c>, <c>int?</c>, <c>Outer.Inner</c>), the way frames name their types.</summary>
public static class TypeNames
{
    /// <summary>The name of <paramref name="type"/> as written in C#, without its namespace.</summary>
    public static string Format(Type type) => MethodNames.FormatType(type);
}
