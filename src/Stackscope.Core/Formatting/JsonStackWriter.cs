using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Stackscope;

/// <summary>Writes the stable JSON form of a <see cref="LogicalStack"/> (schema <c>stackscope/1</c>, see docs/json-schema.md).</summary>
internal static class JsonStackWriter
{
    public const string Schema = "stackscope/1";

    private static readonly JsonWriterOptions s_options = new()
    {
        Indented = true,
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, // keep <, > and + readable in method names
    };

    public static string Write(LogicalStack stack) => Document("in-process", writer => WriteBody(writer, stack));

    /// <summary>A top-level document: the schema and source fields, then <paramref name="body"/>.</summary>
    private static string Document(string source, Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer, s_options))
        {
            writer.WriteStartObject();
            writer.WriteString("schema", Schema);
            writer.WriteString("source", source);
            body(writer);
            writer.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public static string WriteSnapshot(ProcessSnapshot snapshot) => Document(snapshot.Source, writer =>
    {
        if (snapshot.ProcessId > 0)
        {
            writer.WriteNumber("processId", snapshot.ProcessId); // absent when not known, never 0
        }
        writer.WriteStartArray("threads");
        foreach (ThreadStack thread in snapshot.Threads)
        {
            writer.WriteStartObject();
            writer.WriteNumber("managedThreadId", thread.ManagedThreadId);
            writer.WriteNumber("osThreadId", thread.OSThreadId);
            writer.WriteString("name", thread.Name);
            writer.WriteString("state", thread.State);
            writer.WritePropertyName("stack");
            WriteStack(writer, thread.Stack);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        WriteForestBody(writer, snapshot.Forest);
        WriteErrors(writer, snapshot.Errors);
    });

    public static string WriteForest(StackForest forest) => Document("in-process", writer => WriteForestBody(writer, forest));

    private static void WriteForestBody(Utf8JsonWriter writer, StackForest forest)
    {
        writer.WriteStartObject("forest");
        writer.WriteNumber("operations", forest.OperationCount);
        writer.WriteBoolean("fromTracking", forest.FromTracking);
        writer.WriteString("origin", forest.Origin);
        writer.WriteStartArray("groups");
        foreach (StackGroup group in forest.Groups)
        {
            writer.WriteStartObject();
            writer.WriteNumber("count", group.Count);
            writer.WritePropertyName("stack");
            WriteStack(writer, group.Stack);
            writer.WriteEndObject();
        }
        writer.WriteEndArray();
        WriteErrors(writer, forest.Errors);
        writer.WriteEndObject();
    }

    private static void WriteErrors(Utf8JsonWriter w, IReadOnlyList<StackError> errors)
    {
        w.WriteStartArray("errors");
        foreach (StackError e in errors)
        {
            w.WriteStartObject();
            w.WriteString("message", e.Message);
            w.WriteString("exceptionType", e.ExceptionType);
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    /// <summary>Writes <paramref name="stack"/> as one JSON object (the body of a stack document) where <paramref name="w"/> stands.</summary>
    internal static void WriteStack(Utf8JsonWriter w, LogicalStack stack)
    {
        w.WriteStartObject();
        WriteBody(w, stack);
        w.WriteEndObject();
    }

    private static void WriteBody(Utf8JsonWriter w, LogicalStack stack)
    {
        w.WriteStartArray("frames");
        foreach (LogicalFrame f in stack.Frames)
        {
            w.WriteStartObject();
            w.WriteString("kind", Camel(f.Kind.ToString()));
            w.WriteString("name", f.DisplayName);
            w.WriteString("declaringType", f.DeclaringTypeName);
            w.WriteString("method", f.MethodName);
            w.WriteString("state", Camel(f.State.ToString()));
            WriteNumberOrNull(w, "await", f.AwaitNumber);
            WriteNumberOrNull(w, "yield", f.YieldNumber);
            if (f.Location is { } l)
            {
                w.WriteString("file", l.FilePath);
                w.WriteNumber("line", l.Line);
                w.WriteNumber("column", l.Column);
            }
            else
            {
                w.WriteNull("file");
                w.WriteNull("line");
                w.WriteNull("column");
            }
            w.WriteStartArray("flags");
            if ((f.Flags & FrameFlags.Root) != 0) w.WriteStringValue("root");
            if ((f.Flags & FrameFlags.AsyncJunction) != 0) w.WriteStringValue("asyncJunction");
            if ((f.Flags & FrameFlags.BlockingWait) != 0) w.WriteStringValue("blockingWait");
            if ((f.Flags & FrameFlags.Pruned) != 0) w.WriteStringValue("pruned");
            w.WriteEndArray();
            w.WriteStartArray("resources");
            foreach (HeldResource r in f.Resources)
            {
                w.WriteStartObject();
                w.WriteString("name", r.Name);
                w.WriteString("type", r.TypeName);
                w.WriteBoolean("async", r.IsAsync);
                w.WriteString("file", r.Location?.FilePath);
                if (r.Location is { } rl) w.WriteNumber("line", rl.Line); else w.WriteNull("line");
                w.WriteString("description", r.Description);
                if (r.InnerStack is { } inner)
                {
                    w.WritePropertyName("stack");
                    WriteStack(w, inner);
                }
                else
                {
                    w.WriteNull("stack");
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("links");
            foreach (LinkedStack link in f.Links)
            {
                w.WriteStartObject();
                w.WriteString("label", link.Label);
                w.WritePropertyName("stack");
                WriteStack(w, link.Stack);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();

        if (stack.Leaf is { } leaf)
        {
            w.WriteStartObject("leaf");
            w.WriteString("kind", Camel(leaf.Kind.ToString()));
            w.WriteString("description", leaf.Description);
            w.WriteString("type", leaf.TypeName);
            w.WriteEndObject();
        }
        else
        {
            w.WriteNull("leaf");
        }

        w.WriteStartArray("children");
        foreach (LogicalStack child in stack.Children)
        {
            WriteStack(w, child);
        }
        w.WriteEndArray();

        w.WriteStartArray("awaitedBy");
        foreach (LogicalStack caller in stack.AwaitedBy)
        {
            WriteStack(w, caller);
        }
        w.WriteEndArray();

        WriteErrors(w, stack.Errors);
        w.WriteBoolean("truncated", stack.IsTruncated);
    }

    private static void WriteNumberOrNull(Utf8JsonWriter w, string name, int? value)
    {
        if (value is int v) w.WriteNumber(name, v);
        else w.WriteNull(name);
    }

    private static string Camel(string s) => char.ToLowerInvariant(s[0]) + s[1..];
}
