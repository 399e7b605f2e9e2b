using System.Text.Json;
using System.Text.Json.Serialization;

namespace Stackscope.Glue;

/// <summary>
/// Writes and reads a <see cref="LogicalStack"/> inside a glue's own JSON documents (an admin endpoint's answer, a record
/// in a job storage) in its stable form, schema <c>stackscope/1</c> (docs/json-schema.md), so every report carries whole
/// stacks — frames, await lines, resources, links, leaves — the same way.
/// </summary>
public sealed class LogicalStackJsonConverter : JsonConverter<LogicalStack>
{
    /// <inheritdoc />
    public override LogicalStack? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        using JsonDocument document = JsonDocument.ParseValue(ref reader);
        try
        {
            return LogicalStack.FromJson(document.RootElement.GetRawText());
        }
        catch (FormatException e)
        {
            throw new JsonException(e.Message, e);
        }
    }

    /// <inheritdoc />
    public override void Write(Utf8JsonWriter writer, LogicalStack value, JsonSerializerOptions options) => JsonStackWriter.WriteStack(writer, value);
}
