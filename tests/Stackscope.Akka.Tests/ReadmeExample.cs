using Akka.Actor;
using Xunit.Sdk;

namespace Stackscope.Akka.Tests;

// The README shows the block between the markers verbatim; a test checks that it does.
// <readme-example>
public static class AskOrDumpExtensions
{
    /// <summary>
    /// Asks; if no reply comes in time, fails the test with what every busy actor is doing: on every node of the
    /// cluster, each remote Ask followed into the node serving it (bounded: a node that does not answer is named).
    /// </summary>
    public static async Task<T> AskOrDump<T>(this ActorSystem system, IActorRef actor, object message, TimeSpan timeout)
    {
        Task<T> reply = actor.Ask<T>(message);
        if (await Task.WhenAny(reply, Task.Delay(timeout)) != reply)
        {
            string dump = await system.DumpLogicalStacksAsync(new ActorDumpOptions { OnlyBusy = true, WholeCluster = true });
            throw new XunitException($"no reply from {actor.Path} within {timeout}:\n{dump}");
        }
        return await reply;
    }
}
// </readme-example>
