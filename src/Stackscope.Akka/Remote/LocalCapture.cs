namespace Stackscope.Akka.Remote;

/// <summary>
/// This node's dump with its remote Asks followed, the wait-for edges it knows between actors of any node, and the asker
/// of each of its remote Asks: what a node contributes to a cluster-wide dump.
/// </summary>
internal sealed record LocalCapture(ActorSystemDump Dump, List<WaitEdge> Edges, Dictionary<string, string> RemoteAskers);
