using Stackscope.Diagnostics.Clr;

namespace Stackscope.Tests;

/// <summary>ClrMD's type names parsed into the definition names and argument lists reflection uses (<see cref="ClrName"/>).</summary>
public sealed class ClrNameTests
{
    [Theory]
    [InlineData("System.String", "System.String", "String")]
    [InlineData("System.Threading.Tasks.Task<System.Int32>", "System.Threading.Tasks.Task`1", "Task`1")]
    [InlineData("System.Threading.Tasks.Task+WhenAllPromise<System.Int32>", "System.Threading.Tasks.Task+WhenAllPromise`1", "WhenAllPromise`1")]
    [InlineData("System.Collections.Generic.Dictionary<System.String, System.Collections.Generic.List<System.Int32>>", "System.Collections.Generic.Dictionary`2", "Dictionary`2")]
    [InlineData("Repo<System.String>+<Map>d__0<System.Int32>", "Repo`1+<Map>d__0`1", "<Map>d__0`1")]
    [InlineData("Program+<<Main>$>d__0", "Program+<<Main>$>d__0", "<<Main>$>d__0")]
    [InlineData("<>f__AnonymousType0<System.Int32, System.String>", "<>f__AnonymousType0`2", "<>f__AnonymousType0`2")]
    [InlineData("System.Threading.Channels.AsyncOperation<System.Int32>", "System.Threading.Channels.AsyncOperation`1", "AsyncOperation`1")]
    public void Definitions_and_simple_names(string clrName, string definition, string simpleName)
    {
        ClrName parsed = Assert.IsType<ClrName>(ClrName.Parse(clrName));
        Assert.Equal(definition, parsed.Definition);
        Assert.Equal(simpleName, parsed.SimpleName);
        Assert.Equal(clrName, parsed.Text);
    }

    [Fact]
    public void A_box_names_its_state_machine_exactly_as_its_last_argument()
    {
        ClrName box = ClrName.Parse(
            "System.Runtime.CompilerServices.AsyncTaskMethodBuilder<System.Int32>+AsyncStateMachineBox<Repo<System.String>+<Map>d__0<System.Int32>>")!;

        Assert.Equal("System.Runtime.CompilerServices.AsyncTaskMethodBuilder`1+AsyncStateMachineBox`1", box.Definition);
        Assert.Equal(["System.Int32", "Repo<System.String>+<Map>d__0<System.Int32>"], box.Arguments.Select(a => a.Text));
        Assert.Equal(["System.String", "System.Int32"], box.Arguments[^1].Arguments.Select(a => a.Text));
    }

    [Fact]
    public void Arrays_keep_their_rank()
    {
        ClrName array = ClrName.Parse("System.Collections.Generic.List<System.Int32[]>[,]")!;

        Assert.Equal("[,]", array.ArraySuffix);
        Assert.Equal("[]", array.Arguments[0].ArraySuffix);
        Assert.Equal("System.Int32", array.Arguments[0].Definition);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Foo<System.Int32")]
    [InlineData("Foo<System.Int32>>")]
    [InlineData("<Unclosed")]
    [InlineData("Foo[")]
    public void What_is_not_a_type_name_is_refused_not_thrown(string? name)
    {
        Assert.Null(ClrName.Parse(name));
        Assert.Equal(name ?? string.Empty, ClrName.DefinitionOf(name));
    }
}
