using System.Diagnostics;
using Akka.Actor;
using Stackscope.Akka.Inspection;
using Stackscope.Glue;
using Stackscope.Monitoring;

namespace Stackscope.Akka;

/// <summary>What <see cref="ActorSystemStuckWork"/> reports.</summary>
public sealed class AkkaStuckWorkOptions
{
    /// <summary>Report busy actors under <c>/system</c> too (loggers, Akka.Remote's endpoints); off by default, as in the dumps.</summary>
    public bool IncludeSystemActors { get; set; }

    /// <summary>
    /// Report Asks awaited outside any actor (a controller awaiting <c>actor.Ask</c>) while they are pending past the
    /// threshold, kind <c>akka.ask</c>, with the stack of the actor holding the request (default true). Their start is not
    /// recorded anywhere: the time is counted from the first poll that saw them pending.
    /// </summary>
    public bool PendingAsks { get; set; } = true;
}

/// <summary>
/// Stuck work of an actor system, for a <see cref="StuckWorkMonitor"/>: every actor whose handler has been processing one
/// message past the threshold (kind <c>akka.actor</c>, <c>actor /user/stock handling Reserve</c>), with the handler's
/// logical stack as a dump shows it (Asks followed into the actors serving them), and Asks awaited outside any actor
/// (kind <c>akka.ask</c>). Reads the system as <see cref="StackscopeAkka.CaptureLogicalStacks"/> does, once a poll;
/// adds nothing per message.
/// </summary>
/// <remarks>
/// How long a handler has run is exact when the system uses <see cref="StackscopeAkka.TimedMailboxConfig"/>; without it,
/// it is counted from the first poll that saw the actor busy with that message (up to a poll interval short; the
/// warning's note says so). An async handler's stack needs <see cref="StackscopeAkkaOptions.TrackHandlers"/> unless it
/// awaits an Ask; a handler running synchronously has none (its note says where to read the thread's stack). Register
/// it with <c>services.AddAkkaStuckWork(system)</c>, or run a monitor without a host with
/// <c>system.StartStackscopeMonitor(loggerFactory)</c>.
/// </remarks>
public sealed class ActorSystemStuckWork : IStuckWorkSource
{
    /// <summary>The <see cref="StuckWork.Kind"/> of a busy actor's handler.</summary>
    public const string ActorKind = "akka.actor";

    /// <summary>The <see cref="StuckWork.Kind"/> of an Ask awaited outside any actor.</summary>
    public const string AskKind = "akka.ask";

    private const string NoTimedMailbox = "handling time counted from the first poll that saw it (StackscopeAkka.TimedMailboxConfig gives the exact time)";

    private readonly Func<ActorSystem> _system;
    private readonly AkkaStuckWorkOptions _options;
    private readonly TimeProvider _time;
    private readonly object _gate = new();

    // What the last poll saw, for work whose start no one recorded: a busy actor's message (by reference) and a pending
    // Ask, each with the time it was first seen and a number that keys it while it lasts. Only what is busy now is kept.
    private Dictionary<ActorCell, Seen> _handling = new(ReferenceEqualityComparer.Instance);
    private Dictionary<Task, Seen> _asks = new(ReferenceEqualityComparer.Instance);
    private long _sequence;

    /// <summary>The stuck work of <paramref name="system"/>.</summary>
    /// <param name="system">The actor system.</param>
    /// <param name="options">What to report; the defaults report busy /user actors and pending Asks.</param>
    /// <param name="time">The clock of the times counted from a first sighting (the system's by default).</param>
    public ActorSystemStuckWork(ActorSystem system, AkkaStuckWorkOptions? options = null, TimeProvider? time = null)
        : this(Known(system), options, time)
    {
    }

    /// <summary>A source whose system is found when first read (the service provider's, registered later than the monitor).</summary>
    internal ActorSystemStuckWork(Func<ActorSystem> system, AkkaStuckWorkOptions? options, TimeProvider? time)
    {
        _system = system;
        _options = options ?? new AkkaStuckWorkOptions();
        _time = time ?? TimeProvider.System;
    }

    private static Func<ActorSystem> Known(ActorSystem system)
    {
        ArgumentNullException.ThrowIfNull(system);
        return () => system;
    }

    /// <inheritdoc />
    public IEnumerable<StuckWork> Read(TimeSpan threshold)
    {
        ActorSystem system = _system();
        if (system.WhenTerminated.IsCompleted)
        {
            return Array.Empty<StuckWork>();
        }
        lock (_gate)
        {
            return ReadNow(system, threshold);
        }
    }

    private List<StuckWork> ReadNow(ActorSystem system, TimeSpan threshold)
    {
        var stuck = new List<StuckWork>();
        long now = _time.GetTimestamp();
        var scans = new SystemScans(ActorDumpOptions.Default);
        SystemScan scan = scans.For(system);
        ExtractOptions handlerOptions = scans.Seed(ActorDumpOptions.Default.Extract with { IncludeAwaitedBy = false });
        string? incomplete = scan.Errors.Count == 0 ? null : "the read was incomplete: " + string.Join("; ", scan.Errors.Select(static e => e.Message));
        bool namedAskers = false;

        var handling = new Dictionary<ActorCell, Seen>(ReferenceEqualityComparer.Instance);
        foreach (ActorState actor in scan.Detailed)
        {
            ActorDump dump = actor.Dump;
            if (!dump.IsBusy || actor.Current is not { } message || !_options.IncludeSystemActors && dump.IsUnderSystemGuardian)
            {
                continue;
            }
            // One handling of a message: the timed mailbox's timestamp says when it began; without it, the message's
            // identity and the first poll that saw it (a message object sent twice in a row is told apart by the timestamp only).
            if (!_handling.TryGetValue(actor.Cell, out Seen? seen) || !ReferenceEquals(seen.Item, message) || seen.TakenAt != actor.TakenAt)
            {
                seen = new Seen(message, now, ++_sequence, actor.TakenAt);
            }
            handling[actor.Cell] = seen;
            TimeSpan elapsed = dump.BusyFor ?? _time.GetElapsedTime(seen.FirstSeen, now);
            if (!StuckRule.IsStuck(elapsed, threshold))
            {
                continue;
            }
            if (!namedAskers)
            {
                StackscopeAkka.NameAskers(scan);
                namedAskers = true;
            }
            StackscopeAkka.Detail(actor, handlerOptions); // only the stuck actors' stacks are extracted
            string path = actor.Self.Path.ToStringWithoutAddress();
            string type = dump.Message?.TypeName ?? "?";
            string key = actor.TakenAt is { } takenAt ? $"{dump.Path} {type} taken at {takenAt}" : $"{dump.Path} {type} #{seen.Number}";
            stuck.Add(new StuckWork(ActorKind, key, $"actor {path} handling {type}", elapsed)
            {
                Stack = dump.Stack,
                Note = Note(dump.Note,
                    dump.Message?.AskedBy is { } asker ? "asked by " + asker : null,
                    dump.MailboxCount > 0 ? $"mailbox: {dump.MailboxCount} queued" : null,
                    dump.BusyFor is null ? NoTimedMailbox : null,
                    incomplete),
            });
        }
        _handling = handling;

        var asks = new Dictionary<Task, Seen>(ReferenceEqualityComparer.Instance);
        if (_options.PendingAsks)
        {
            foreach (Task ask in scan.PendingAsksOfSystem())
            {
                if (ask.IsCompleted || SystemScan.Climb(ask) is not null || SystemScan.PipeAbove(ask) is not null)
                {
                    continue; // awaited by an actor's handler (reported as that actor) or piped to one
                }
                if (!_asks.TryGetValue(ask, out Seen? seen))
                {
                    seen = new Seen(ask, now, ++_sequence, null);
                }
                asks[ask] = seen;
                TimeSpan elapsed = _time.GetElapsedTime(seen.FirstSeen, now);
                if (!StuckRule.IsStuck(elapsed, threshold))
                {
                    continue;
                }
                AskTarget? target = scan.TargetOf(ask);
                string what = target is null
                    ? "Ask (no actor of this system holds its request)"
                    : $"Ask {target.Request.TypeName} → {target.Target.Self.Path.ToStringWithoutAddress()}";
                stuck.Add(new StuckWork(AskKind, $"{system.Name} ask #{seen.Number}", what, elapsed)
                {
                    Stack = StackExtractor.Extract(ask, scans.Seed(ActorDumpOptions.Default.Extract)), // with who awaits it, above
                    Note = Note("pending time counted from the first poll that saw it (an Ask's start is not recorded)", incomplete),
                });
            }
        }
        _asks = asks;
        return stuck;
    }

    private static string? Note(params string?[] parts)
    {
        string text = string.Join("; ", parts.Where(static p => !string.IsNullOrEmpty(p)));
        return text.Length == 0 ? null : text;
    }

    /// <summary>Work first seen at <see cref="FirstSeen"/> (a <see cref="TimeProvider"/> timestamp), keyed by <see cref="Number"/>.</summary>
    private sealed record Seen(object Item, long FirstSeen, long Number, long? TakenAt);
}
