using Akka.Actor;
using Akka.Configuration;
using Stackscope.Akka.Formatting;
using Stackscope.Akka.Inspection;
using Stackscope.Akka.Setup;

namespace Stackscope.Akka;

/// <summary>
/// Logical stacks for an Akka.NET actor system: <see cref="DumpLogicalStacks"/> for text (a test that timed out,
/// a log line), <see cref="CaptureLogicalStacks"/> for the model. Nothing runs per message unless asked:
/// <see cref="UseStackscope"/> costs nothing until a dead letter is sent, handler tracking costs per async
/// operation, and <see cref="TimedMailboxConfig"/> costs one timestamp per message.
/// </summary>
public static class StackscopeAkka
{
    /// <summary>
    /// HOCON that makes <see cref="Timing.StackscopeTimedMailbox"/> the default mailbox, so dumps can say how long
    /// each busy actor has been busy, and loads <see cref="StackscopeAkkaExtension"/>. Use it as a fallback of the
    /// system's configuration: <c>ActorSystem.Create("orders", myConfig.WithFallback(StackscopeAkka.TimedMailboxConfig))</c>.
    /// Actors that require other mailbox semantics (stashing, bounded) keep their own mailboxes.
    /// </summary>
    public static Config TimedMailboxConfig { get; } = ConfigurationFactory.ParseString("""
        akka.actor.default-mailbox.mailbox-type = "Stackscope.Akka.Timing.StackscopeTimedMailbox, Stackscope.Akka"
        akka.extensions += "Stackscope.Akka.Setup.StackscopeAkkaExtensionProvider, Stackscope.Akka"
        """);

    /// <summary>
    /// Prepares <paramref name="system"/> for dumps: records Asks whose requests go to dead letters or whose targets stop
    /// (so a dump can say so), and with <see cref="StackscopeAkkaOptions.TrackHandlers"/> turns on <see cref="TaskTracking"/>
    /// (process-wide, <see cref="TaskTrackingMode.Registry"/>), without which the stack of an async handler that awaits
    /// anything but an Ask cannot be found. Idempotent.
    /// </summary>
    /// <param name="system">The actor system.</param>
    /// <param name="configure">Sets the options; the defaults add nothing per message.</param>
    /// <returns>The same system, for chaining.</returns>
    public static ActorSystem UseStackscope(this ActorSystem system, Action<StackscopeAkkaOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        var options = new StackscopeAkkaOptions();
        configure?.Invoke(options);
        system.RegisterExtension(new StackscopeAkkaExtensionProvider());
        if (options.TrackHandlers && !TaskTracking.IsEnabled)
        {
            TaskTracking.Enable(TaskTrackingMode.Registry);
        }
        return system;
    }

    /// <summary>Reads the actor system's actors now. Never throws: what cannot be read is in <see cref="ActorSystemDump.Errors"/>.</summary>
    public static ActorSystemDump CaptureLogicalStacks(this ActorSystem system, ActorDumpOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(system);
        options ??= ActorDumpOptions.Default;
        var scans = new SystemScans(options);
        SystemScan scan = scans.For(system);
        var errors = new List<StackError>(scan.Errors);
        // Every stack of the dump resolves Asks against the systems this dump has read (each read once).
        ExtractOptions handlerOptions = scans.Seed(options.Extract with { IncludeAwaitedBy = false });
        foreach (ActorState actor in scan.Detailed) // an idle actor without a state has nothing to add
        {
            ActorDump dump = actor.Dump;
            if (dump.Activity == ActorActivity.Awaiting)
            {
                if (actor.HandlerRoot is { } handler)
                {
                    dump.Stack = StackExtractor.Extract(handler, handlerOptions); // the handler is the top: RunTask's callback above it is Akka's
                }
                else
                {
                    dump.Note = "handler's stack not found: " + Glue.ActorNotes.HandlerUnknown;
                }
            }
            else if (dump.Activity == ActorActivity.Running)
            {
                dump.Note = "running synchronously; " + Glue.ActorNotes.ThreadStack;
            }
            if (actor.Pipes.Count > 0)
            {
                // The piped task's own stack: PipeTo's frame above it only repeats what the dump says in words.
                dump.PendingPipes = actor.Pipes
                    .Select(pipe => new ActorPipe(dump.Path, StackExtractor.Extract(SystemScan.PipedTask(pipe) ?? pipe, handlerOptions)))
                    .ToList();
            }
        }
        ActorDump root = scan.Root ?? new ActorDump("/", "/", "?", ActorActivity.Idle);
        return new ActorSystemDump(system.Name, root, scan.Deadlocks(), errors, options);
    }

    /// <summary>The actor tree with every busy actor's message, mailbox and handler stack, and Ask deadlocks, as text.</summary>
    public static string DumpLogicalStacks(this ActorSystem system, ActorDumpOptions? options = null) =>
        ActorDumpFormatter.Format(system.CaptureLogicalStacks(options));
}
