using System.Reflection;
using System.Runtime.CompilerServices;
using Akka.Actor;
using Akka.Event;
using Stackscope.Akka.Inspection;
using Stackscope.Akka.Remote;

namespace Stackscope.Akka.Setup;

/// <summary>An Ask whose request went to dead letters: its target was stopped (or never existed).</summary>
internal sealed record DeadLetteredAsk(string Recipient, string MessageType, DateTime At);

/// <summary>
/// The registry of Asks whose request went to dead letters, keyed by the Ask's task and held weakly (an entry
/// goes when the task does). Filled by <see cref="DeadLetterRecorder"/>, which runs only when a dead letter is
/// published — never per ordinary message.
/// </summary>
internal static class DeadLetterAsks
{
    private static readonly ConditionalWeakTable<Task, DeadLetteredAsk> s_asks = new();

    public static DeadLetteredAsk? Find(Task ask) => s_asks.TryGetValue(ask, out DeadLetteredAsk? found) ? found : null;

    public static void Record(DeadLetter letter)
    {
        if (AkkaInternals.AskTask(letter.Sender) is { IsCompleted: false } ask)
        {
            s_asks.AddOrUpdate(ask, new DeadLetteredAsk(letter.Recipient?.Path.ToString() ?? "?", SystemScan.TypeName(letter.Message?.GetType()), DateTime.UtcNow));
        }
    }
}

/// <summary>
/// Subscribed to the event stream's dead letters. A minimal reference rather than an actor, so the record is made
/// synchronously, on the thread that sent the dead letter, before the Ask call returns.
/// </summary>
internal sealed class DeadLetterRecorder(IActorRefProvider provider, ActorPath path) : MinimalActorRef
{
    public override ActorPath Path { get; } = path;

    public override IActorRefProvider Provider { get; } = provider;

    protected override void TellInternal(object message, IActorRef sender)
    {
        try
        {
            if (message is DeadLetter letter)
            {
                DeadLetterAsks.Record(letter);
            }
        }
        catch (Exception)
        {
            // recording is best effort and must never disturb the sender
        }
    }
}

/// <summary>
/// Stackscope's extension of an actor system: installs, once per system, the dead-letter recorder and the recorder of
/// Asks whose target stops while holding the request (an actor-producer plugin: it applies to actor types whose
/// first actor is created after the extension, as Akka builds each type's plugin pipeline once).
/// </summary>
public sealed class StackscopeAkkaExtension : IExtension
{
    internal StackscopeAkkaExtension(ExtendedActorSystem system)
    {
        var recorder = new DeadLetterRecorder(system.Provider, system.Provider.SystemGuardian.Path / "stackscope-dead-letters");
        system.EventStream.Subscribe(recorder, typeof(DeadLetter));
        AddPlugin(system.ActorPipelineResolver, new StoppedAskRecorder());
        RemoteAsks.Register(system);
        Client = new NodeClient(system);
        if (RemoteAsks.CanSendRemotely(system))
        {
            // Other nodes' questions, and the answers to this node's, come to /system/stackscope.
            Client.Actor = system.SystemActorOf(Props.Create(() => new StackscopeNodeActor(Client)), StackscopeNodeActor.Name);
        }
    }

    /// <summary>This node's side of the questions it asks other nodes.</summary>
    internal NodeClient Client { get; }

    /// <summary>
    /// Adds <paramref name="plugin"/> to the resolver's plugin list without changing the list other threads may be
    /// reading. Akka reads that list (a plain <see cref="List{T}"/>) on a dispatcher thread whenever the first actor of a type
    /// is created, and its <c>Register</c> adds to it in place: a system that is creating actors (a cluster node starting)
    /// then fails that creation with "Collection was modified". So the list is replaced by a copy with the plugin added,
    /// and a thread iterating the old list finishes with it. Falls back to <c>Register</c> if the list is not where Akka
    /// 1.5 keeps it.
    /// </summary>
    private static void AddPlugin(ActorProducerPipelineResolver resolver, IActorProducerPlugin plugin)
    {
        if (resolver.IsRegistered(plugin))
        {
            return;
        }
        if (s_plugins?.GetValue(resolver) is not List<IActorProducerPlugin>)
        {
            resolver.Register(plugin);
            return;
        }
        lock (s_pluginsLock) // orders two UseStackscope calls racing on one system
        {
            var current = (List<IActorProducerPlugin>)s_plugins.GetValue(resolver)!;
            if (!current.Any(p => p.GetType() == plugin.GetType()))
            {
                s_plugins.SetValue(resolver, new List<IActorProducerPlugin>(current) { plugin });
            }
        }
    }

    private static readonly object s_pluginsLock = new();

    private static readonly FieldInfo? s_plugins =
        typeof(ActorProducerPipelineResolver).GetField("_plugins", BindingFlags.Instance | BindingFlags.NonPublic) is { } field
        && field.FieldType == typeof(List<IActorProducerPlugin>) ? field : null;
}

/// <summary>The id Akka registers <see cref="StackscopeAkkaExtension"/> under (also loadable from HOCON's <c>akka.extensions</c>).</summary>
public sealed class StackscopeAkkaExtensionProvider : ExtensionIdProvider<StackscopeAkkaExtension>
{
    /// <inheritdoc />
    public override StackscopeAkkaExtension CreateExtension(ExtendedActorSystem system) => new(system);
}
