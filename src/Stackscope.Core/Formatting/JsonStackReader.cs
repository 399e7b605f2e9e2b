using System.Text.Json;

namespace Stackscope;

/// <summary>
/// Reads the JSON form of a <see cref="LogicalStack"/> (schema <c>stackscope/1</c>, written by <see cref="JsonStackWriter"/>) back
/// into a stack: how a stack crosses processes (a silo answering another, a job server writing to storage). What the JSON
/// cannot carry is absent: <see cref="LogicalFrame.Method"/> and in-process subjects are null.
/// </summary>
internal static class JsonStackReader
{
    private const int MaxNesting = 256;

    /// <summary>Reads a stack document or a bare stack object. Throws <see cref="FormatException"/> with a one-line reason on anything else.</summary>
    public static LogicalStack Read(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        try
        {
            using JsonDocument document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = MaxNesting * 4 });
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                throw new FormatException("a stack's JSON must be an object");
            }
            if (root.TryGetProperty("schema", out JsonElement schema) && schema.GetString() != JsonStackWriter.Schema)
            {
                throw new FormatException($"unknown schema '{schema.GetString()}' (expected {JsonStackWriter.Schema})");
            }
            return Stack(root, 0);
        }
        catch (JsonException e)
        {
            throw new FormatException("not valid JSON: " + e.Message, e);
        }
        catch (InvalidOperationException e)
        {
            throw new FormatException("a field has the wrong type: " + e.Message, e);
        }
    }

    private static LogicalStack Stack(JsonElement e, int depth)
    {
        if (depth > MaxNesting)
        {
            throw new FormatException("stacks nested too deeply");
        }
        var frames = new List<LogicalFrame>();
        foreach (JsonElement f in Array(e, "frames"))
        {
            frames.Add(Frame(f, depth));
        }
        StackLeaf? leaf = null;
        if (e.TryGetProperty("leaf", out JsonElement l) && l.ValueKind == JsonValueKind.Object)
        {
            leaf = new StackLeaf(Enum<LeafKind>(l, "kind", LeafKind.Unknown), String(l, "description") ?? "", String(l, "type"));
        }
        var children = Array(e, "children").Select(c => Stack(c, depth + 1)).ToList();
        var awaitedBy = Array(e, "awaitedBy").Select(c => Stack(c, depth + 1)).ToList();
        var errors = Array(e, "errors").Select(static x => new StackError(String(x, "message") ?? "", String(x, "exceptionType"))).ToList();
        bool truncated = e.TryGetProperty("truncated", out JsonElement t) && t.ValueKind == JsonValueKind.True;
        return new LogicalStack(frames, leaf, awaitedBy, errors, truncated, children);
    }

    private static LogicalFrame Frame(JsonElement f, int depth)
    {
        FrameFlags flags = FrameFlags.None;
        foreach (JsonElement flag in Array(f, "flags"))
        {
            flags |= flag.GetString() switch
            {
                "root" => FrameFlags.Root,
                "asyncJunction" => FrameFlags.AsyncJunction,
                "blockingWait" => FrameFlags.BlockingWait,
                "pruned" => FrameFlags.Pruned,
                _ => FrameFlags.None,
            };
        }
        var resources = Array(f, "resources").Select(r => new HeldResource(
            String(r, "name"), String(r, "type") ?? "?", r.TryGetProperty("async", out JsonElement a) && a.ValueKind == JsonValueKind.True,
            Location(String(r, "file"), Int(r, "line"), null), String(r, "description"),
            r.TryGetProperty("stack", out JsonElement s) && s.ValueKind == JsonValueKind.Object ? Stack(s, depth + 1) : null)).ToList();
        var links = Array(f, "links").Select(k => new LinkedStack(String(k, "label") ?? "",
            k.TryGetProperty("stack", out JsonElement s) && s.ValueKind == JsonValueKind.Object ? Stack(s, depth + 1) : new LogicalStack([], null, null, null, false))).ToList();
        return new LogicalFrame(
            Enum<FrameKind>(f, "kind", FrameKind.Async),
            String(f, "name") ?? "?",
            method: null,
            Enum<FrameState>(f, "state", FrameState.Unknown),
            Int(f, "await"),
            Location(String(f, "file"), Int(f, "line"), Int(f, "column")),
            flags,
            Int(f, "yield"),
            resources,
            links,
            String(f, "declaringType"),
            String(f, "method"));
    }

    private static SourceLocation? Location(string? file, int? line, int? column) =>
        file is not null && line is int l ? new SourceLocation(file, l, column ?? 0) : null;

    // A field that is absent or null reads as absent; one of another type is refused, so a foreign record is reported, not misread.
    private static IEnumerable<JsonElement> Array(JsonElement e, string name) => Field(e, name, JsonValueKind.Array) is { } a ? a.EnumerateArray() : Enumerable.Empty<JsonElement>();

    private static string? String(JsonElement e, string name) => Field(e, name, JsonValueKind.String)?.GetString();

    private static int? Int(JsonElement e, string name) =>
        Field(e, name, JsonValueKind.Number) is not { } v ? null
        : v.TryGetInt32(out int i) ? i
        : throw new FormatException($"a field has the wrong type: '{name}' is not a whole number");

    private static JsonElement? Field(JsonElement e, string name, JsonValueKind kind)
    {
        if (e.ValueKind != JsonValueKind.Object)
        {
            throw new FormatException($"a field has the wrong type: expected an object, found {e.ValueKind}");
        }
        if (!e.TryGetProperty(name, out JsonElement v) || v.ValueKind == JsonValueKind.Null)
        {
            return null;
        }
        return v.ValueKind == kind ? v : throw new FormatException($"a field has the wrong type: '{name}' is {v.ValueKind}, expected {kind}");
    }

    private static T Enum<T>(JsonElement e, string name, T fallback) where T : struct, System.Enum =>
        String(e, name) is { } text && System.Enum.TryParse(text, ignoreCase: true, out T value) ? value : fallback;
}
