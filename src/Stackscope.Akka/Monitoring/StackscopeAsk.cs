using System.Reflection;
using Akka.Actor;
using Stackscope.Akka.Inspection;
using Stackscope.Glue;

namespace Stackscope.Akka;

/// <summary>Asks whose timeouts say what the asked actor was doing.</summary>
public static class StackscopeAsk
{
    // Exception's inner-exception field: AskTimeoutException has no constructor taking one (read once; a documented cache).
    private static readonly FieldInfo? s_inner = typeof(Exception).GetField("_innerException", BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>
    /// <c>actor.Ask&lt;T&gt;(message, timeout)</c>, whose <see cref="AskTimeoutException"/> carries the logical stack of the
    /// actor holding the request when the time ran out: the Ask followed into the actor processing it (or the mailbox
    /// it waits in) and that actor's handler, down to its await line; into another node of the cluster too, waiting at
    /// most <see cref="ActorDumpOptions.RemoteBound"/> more. The exception's message ends with the stack as a tree, and its
    /// <see cref="Exception.InnerException"/> is the stack as a <see cref="Monitoring.LogicalStackException"/> (for error
    /// trackers), so existing <c>catch (AskTimeoutException)</c> blocks keep working.
    /// </summary>
    /// <remarks>
    /// The stack is read while the Ask is still pending (once that happens Akka forgets where its request went): this
    /// method times the Ask itself, then cancels Akka's Ask, which keeps its own timeout only as a backstop. A reply that
    /// arrives while the stack is read is returned. Costs nothing more than an Ask until the time runs out. An async
    /// handler's stack needs <see cref="StackscopeAkkaOptions.TrackHandlers"/> unless it awaits an Ask itself.
    /// </remarks>
    /// <typeparam name="T">The reply's type.</typeparam>
    /// <param name="actor">The actor asked.</param>
    /// <param name="message">The request.</param>
    /// <param name="timeout">How long to wait for the reply; a non-positive or infinite timeout is a plain Ask.</param>
    /// <param name="cancellationToken">Cancels the Ask (as Akka's Ask does: <see cref="TaskCanceledException"/>).</param>
    /// <param name="options">How the stack is read; the defaults follow remote Asks for at most 5 s.</param>
    /// <returns>The reply.</returns>
    /// <exception cref="AskTimeoutException">No reply within <paramref name="timeout"/>; the message ends with the holder's stack.</exception>
    public static async Task<T> AskWithStacks<T>(this IActorRef actor, object message, TimeSpan timeout, CancellationToken cancellationToken = default,
        ActorDumpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(actor);
        ActorSystem? system = SystemOf(actor);
        if (timeout <= TimeSpan.Zero || timeout == Timeout.InfiniteTimeSpan || system is null)
        {
            return await actor.Ask<T>(message, timeout, cancellationToken).ConfigureAwait(false);
        }
        options ??= ActorDumpOptions.Default;
        TimeSpan bound = options.RemoteBudget;
        using var ending = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Task<T> ask = actor.Ask<T>(message, timeout + bound + TimeSpan.FromSeconds(5), ending.Token);
        try
        {
            await Task.WhenAny(ask, Task.Delay(timeout, ending.Token)).ConfigureAwait(false);
            if (ask.IsCompleted || cancellationToken.IsCancellationRequested)
            {
                return await ask.ConfigureAwait(false);
            }
            LogicalStack? stack = null;
            string? failed = null;
            try
            {
                stack = await StackscopeAkka.CaptureAskAsync(system, ask, options, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception e) when (e is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                failed = $"{e.GetType().Name}: {e.Message}"; // still the AskTimeoutException callers catch
            }
            if (ask.IsCompleted)
            {
                return await ask.ConfigureAwait(false); // answered while the stack was read
            }
            string head = $"Timeout after {GlueText.Duration(timeout)} asking {Path(actor)} with {SystemScan.TypeName(message?.GetType())}";
            var timedOut = new AskTimeoutException(stack is null
                ? $"{head}; the Ask's logical stack could not be read ({failed})"
                : $"{head}; the logical stack of the Ask then:{Environment.NewLine}{stack.ToString(StackFormat.Tree).TrimEnd()}");
            if (stack is not null)
            {
                s_inner?.SetValue(timedOut, stack.ToException("the Ask's logical stack when it timed out"));
            }
            throw timedOut;
        }
        finally
        {
            ending.Cancel(); // ends Akka's Ask (its temporary actor) and the timer, whichever is still pending
        }
    }

    /// <summary>The system an actor reference belongs to (its provider's root guardian's), if it is one Akka created.</summary>
    private static ActorSystem? SystemOf(IActorRef actor) => actor switch
    {
        ActorRefWithCell local => local.Underlying.System,
        IInternalActorRef { Provider.RootGuardian: ActorRefWithCell root } => root.Underlying.System,
        _ => null,
    };

    private static string Path(IActorRef actor)
    {
        try
        {
            return actor.Path.ToString();
        }
        catch (Exception)
        {
            return "?";
        }
    }
}
