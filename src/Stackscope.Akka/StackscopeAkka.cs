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
    /// Prepares <paramref name="system"/> for dumps: records Asks whose requests go to dead letters (so a dump can
    /// say an Ask went to a stopped actor), and with <paramref name="trackHandlers"/> turns on
    /// <see cref="TaskTracking"/> (process-wide, <see cref="TaskTrackingMode.Registry"/>), without which the stack of
    /// an async handler that awaits anything but an Ask cannot be found. Idempotent.
    /// </summary>
    /// <returns>The same system, for chaining.</returns>
    public static ActorSystem UseStackscope(this ActorSystem system, bool trackHandlers = false)
    {
        ArgumentNullException.ThrowIfNull(system);
        system.RegisterExtension(new StackscopeAkkaExtensionProvider());
        if (trackHandlers && !TaskTracking.IsEnabled)
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
        SystemScan scan = SystemScan.Read(system, options);
        var errors = new List<StackError>(scan.Errors);
        ExtractOptions handlerOptions = options.Extract with { IncludeAwaitedBy = false };
        scan.With(() =>
        {
            foreach (ActorState actor in scan.Actors)
            {
                ActorDump dump = actor.Dump;
                if (dump.Activity == ActorActivity.Awaiting)
                {
                    if (actor.HandlerRoot is { } root)
                    {
                        dump.Stack = StackExtractor.Extract(root, handlerOptions); // the handler is the top: RunTask's callback above it is Akka's
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
            return 0;
        });
        ActorDump root = scan.Root ?? new ActorDump("/", "/", "?", ActorActivity.Idle);
        return new ActorSystemDump(system.Name, root, scan.Deadlocks(), errors, options);
    }

    /// <summary>The actor tree with every busy actor's message, mailbox and handler stack, and Ask deadlocks, as text.</summary>
    public static string DumpLogicalStacks(this ActorSystem system, ActorDumpOptions? options = null) =>
        ActorDumpFormatter.Format(system.CaptureLogicalStacks(options));
}
