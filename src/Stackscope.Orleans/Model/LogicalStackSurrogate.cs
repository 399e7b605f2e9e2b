namespace Stackscope.Orleans;

/// <summary>How a <see cref="LogicalStack"/> crosses silos: its JSON form (<c>stackscope/1</c>), read back by <see cref="LogicalStack.FromJson"/>.</summary>
[GenerateSerializer, Immutable, Alias("stackscope.stack")]
public readonly struct LogicalStackSurrogate
{
    /// <summary>The stack's JSON.</summary>
    [Id(0)] public readonly string Json;

    /// <summary>Wraps a stack's JSON.</summary>
    /// <param name="json">The JSON.</param>
    public LogicalStackSurrogate(string json) => Json = json;
}

/// <summary>Converts <see cref="LogicalStack"/> to and from <see cref="LogicalStackSurrogate"/> for Orleans' serializer.</summary>
[RegisterConverter]
public sealed class LogicalStackSurrogateConverter : IConverter<LogicalStack, LogicalStackSurrogate>
{
    /// <inheritdoc />
    public LogicalStack ConvertFromSurrogate(in LogicalStackSurrogate surrogate)
    {
        try
        {
            return LogicalStack.FromJson(surrogate.Json);
        }
        catch (FormatException e)
        {
            // A silo of another version sent what this one cannot read: say so in the stack, never fail the whole report.
            return LogicalStack.FromJson($$"""{"frames":[],"leaf":null,"errors":[{"message":{{System.Text.Json.JsonSerializer.Serialize("the stack could not be read: " + e.Message)}}}]}""");
        }
    }

    /// <inheritdoc />
    public LogicalStackSurrogate ConvertToSurrogate(in LogicalStack value) => new(value.ToString(StackFormat.Json));
}
