using System.Text.Json;
using System.Text.Json.Serialization;
using Stackscope.Glue;

namespace Stackscope.Akka.Remote;

/// <summary>
/// A question one node's Stackscope asks another's (<see cref="StackscopeNodeActor"/>): who holds the requests of these
/// Asks (<see cref="Holders"/>), or what every busy actor is doing (<see cref="Dump"/>). Crosses Akka.Remote as JSON in
/// a byte array (<see cref="NodeWire"/>), so it needs no serializer set up by the user.
/// </summary>
/// <param name="Id">Matches the answer's chunks to the question.</param>
/// <param name="Kind"><see cref="Holders"/> or <see cref="Dump"/>.</param>
/// <param name="Keys">For <see cref="Holders"/>: the Asks' keys, their temporary actors' paths with the asking node's address.</param>
/// <param name="Askers">For <see cref="Holders"/>: the actor awaiting each Ask (full path, parallel to <paramref name="Keys"/>), or null when not an actor.</param>
/// <param name="Chain">The Asks already followed on the way here, each with its asker and the actor holding its request: an actor met again closes a cycle.</param>
/// <param name="BudgetMs">How long the asking node waits for the answer; the answering node answers within it, asking further nodes for less.</param>
/// <param name="QueuedShown">The asking dump's <see cref="ActorDumpOptions.QueuedShown"/>.</param>
/// <param name="MaxMessageText">The asking dump's <see cref="ActorDumpOptions.MaxMessageText"/>.</param>
internal sealed record NodeQuery(Guid Id, string Kind, string[] Keys, string?[] Askers, ChainLink[] Chain, int BudgetMs, int QueuedShown, int MaxMessageText)
{
    public const string Holders = "holders";
    public const string Dump = "dump";
}

/// <summary>An Ask followed on the way to a node: its key, the actor awaiting it (if an actor), and the actor holding its request (paths with addresses).</summary>
internal sealed record ChainLink(string Key, string? Asker, string Holder);

/// <summary>An edge of the wait-for graph between actors of any node (paths with addresses): <paramref name="From"/>'s handler awaits an Ask that <paramref name="To"/>, busy, holds.</summary>
internal sealed record WaitEdge(string From, string To);

/// <summary>
/// Where another node's Ask request is: the actor holding it, the description the asking node's stack shows for the
/// Ask (as the answering node words it for its own actors), and the stack the Ask continues into, already followed
/// across further nodes.
/// </summary>
internal sealed record HolderAnswer(
    string Key,
    string Holder,
    bool Busy,
    string Description,
    [property: JsonConverter(typeof(LogicalStackJsonConverter))] LogicalStack? Stack,
    WaitEdge[] Edges);

/// <summary>A node's answer to <see cref="NodeQuery.Holders"/>.</summary>
internal sealed record HoldersAnswer(string Node, HolderAnswer[] Holders, string[] Errors);

/// <summary>A message in a remote node's dump.</summary>
internal sealed record MessageJson(string Type, string Text, string? Sender, string? AskedBy = null);

/// <summary>A busy actor of a remote node's dump.</summary>
internal sealed record ActorJson(
    string Path,
    string Type,
    ActorActivity Activity,
    MessageJson? Message,
    double? BusyForMs,
    int MailboxCount,
    MessageJson[] Queued,
    [property: JsonConverter(typeof(LogicalStackJsonConverter))] LogicalStack? Stack,
    string? Note);

/// <summary>A node's answer to <see cref="NodeQuery.Dump"/>: its busy actors, each stack followed across nodes, and its wait-for edges.</summary>
/// <param name="Node">The node's address.</param>
/// <param name="SystemName">Its actor system's name.</param>
/// <param name="ActorCount">How many actors it has.</param>
/// <param name="Busy">Its busy actors, by full paths.</param>
/// <param name="Edges">The wait-for edges it knows, between actors of any node.</param>
/// <param name="Errors">What it could not read.</param>
/// <param name="Askers">The actor awaiting each of the node's pending remote Asks, by the Ask's key (both full paths): names the asker of a request another node holds.</param>
internal sealed record DumpAnswer(string Node, string SystemName, int ActorCount, ActorJson[] Busy, WaitEdge[] Edges, string[] Errors,
    Dictionary<string, string>? Askers = null);

/// <summary>How the questions and answers are written: System.Text.Json, one options object (a documented cache).</summary>
internal static class NodeJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        Converters = { new JsonStringEnumConverter() },
        MaxDepth = 256,
    };

    public static byte[] Write<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    /// <summary>Reads <typeparamref name="T"/>; a document that is not one is a <see cref="FormatException"/> with the reason.</summary>
    public static T Read<T>(ReadOnlySpan<byte> utf8) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(utf8, Options) ?? throw new FormatException("the document is null");
        }
        catch (JsonException e)
        {
            throw new FormatException($"not a Stackscope {typeof(T).Name}: {e.Message}", e);
        }
    }
}
