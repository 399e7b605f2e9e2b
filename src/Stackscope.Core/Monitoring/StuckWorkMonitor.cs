using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Stackscope.Monitoring;

/// <summary>
/// Finds work running past a threshold, every poll, in its sources (Orleans requests, Akka handlers, Hangfire jobs,
/// watched tasks), and says so where operators look: one structured warning per operation with its logical stack (text,
/// and JSON as a property), again at growing intervals while it stays stuck, and once when it finishes; a gauge of stuck
/// operations per kind (<see cref="MeterName"/>); an event with the stack on the operation's <see cref="Activity"/>, or on
/// an activity of <see cref="ActivitySourceName"/> when it has none. A hosted service; <see cref="Poll"/> runs one poll now.
/// </summary>
/// <remarks>
/// Writes nothing but what the glues' dumps show: types, methods, await lines, the messages' short renderings the glues
/// already print. A poll never throws: a source that fails is logged (once until it works again) and the others are read.
/// </remarks>
public sealed partial class StuckWorkMonitor : BackgroundService
{
    /// <summary>The <see cref="Meter"/> name of the gauge <c>stackscope.stuck.operations</c> (tag <c>stackscope.kind</c>).</summary>
    public const string MeterName = "Stackscope";

    /// <summary>
    /// The <see cref="System.Diagnostics.ActivitySource"/> name of the activities carrying the event of stuck work that has
    /// no activity of its own (<c>stackscope.stuck</c>, one per warning, ended at once).
    /// </summary>
    public const string ActivitySourceName = "Stackscope";

    /// <summary>The name of the event added to an operation's activity: <c>stackscope.stuck</c>.</summary>
    public const string EventName = "stackscope.stuck";

    // A documented static: the runtime's activity sources are process-wide by design, listeners find them by name.
    private static readonly ActivitySource s_activities = new(ActivitySourceName);

    private readonly IReadOnlyList<IStuckWorkSource> _sources;
    private readonly StackscopeMonitorOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Meter _meter;
    private readonly Dictionary<string, Tracked> _tracked = new(StringComparer.Ordinal);
    private readonly HashSet<IStuckWorkSource> _failing = new(ReferenceEqualityComparer.Instance);
    private readonly object _gate = new();
    private Dictionary<string, int> _stuckByKind = new(StringComparer.Ordinal);
    private long _windowStart;
    private int _warningsInWindow;
    private int _heldBack;

    /// <summary>A monitor of <paramref name="sources"/>.</summary>
    /// <param name="sources">Where stuck work is found.</param>
    /// <param name="options">Threshold, intervals, limits.</param>
    /// <param name="logger">Where it is said.</param>
    /// <param name="time">The clock (the system's by default).</param>
    /// <param name="meterFactory">Creates the meter (a plain <see cref="Meter"/> without one).</param>
    public StuckWorkMonitor(IEnumerable<IStuckWorkSource> sources, StackscopeMonitorOptions options, ILogger<StuckWorkMonitor> logger,
        TimeProvider? time = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        _sources = sources.ToList();
        _options = options.Validated();
        _logger = logger;
        _time = time ?? TimeProvider.System;
        _windowStart = _time.GetTimestamp();
        _meter = meterFactory?.Create(MeterName) ?? new Meter(MeterName);
        _meter.CreateObservableGauge("stackscope.stuck.operations", ObserveStuck, "{operation}",
            "Operations running past Stackscope's threshold, by kind (stackscope.kind).");
    }

    /// <summary>The operations stuck at the last poll.</summary>
    public IReadOnlyList<StuckWork> Stuck { get; private set; } = Array.Empty<StuckWork>();

    /// <summary>Reads every source now and says what changed (a warning, a repeat, a finished line). Never throws.</summary>
    /// <returns>The operations stuck now.</returns>
    public IReadOnlyList<StuckWork> Poll()
    {
        lock (_gate) // one poll at a time: the hosted loop and a caller's Poll
        {
            var now = new List<StuckWork>();
            // Which source reported each operation: an operation whose source fails in a later poll is not "finished".
            var sourceOf = new Dictionary<StuckWork, IStuckWorkSource>(ReferenceEqualityComparer.Instance);
            foreach (IStuckWorkSource source in _sources)
            {
                try
                {
                    foreach (StuckWork work in source.Read(_options.Threshold))
                    {
                        if (work is not null)
                        {
                            now.Add(work);
                            sourceOf.TryAdd(work, source);
                        }
                    }
                    _failing.Remove(source);
                }
                catch (Exception e)
                {
                    if (_failing.Add(source))
                    {
                        LogSourceFailed(_logger, source.GetType().FullName ?? "?", e);
                    }
                }
            }
            long timestamp = _time.GetTimestamp();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (StuckWork work in now)
            {
                string key = work.Kind + "\n" + work.Key;
                if (!seen.Add(key))
                {
                    continue;
                }
                if (!_tracked.TryGetValue(key, out Tracked? tracked))
                {
                    _tracked[key] = tracked = new Tracked(work);
                }
                tracked.Source = sourceOf.GetValueOrDefault(work);
                tracked.Last = work;
                if (tracked.NextWarningAt is { } due && timestamp < due)
                {
                    continue;
                }
                if (!TakeWarning(timestamp))
                {
                    continue; // held back: tried again at the next poll with room
                }
                tracked.Warnings++;
                Warn(work, tracked.Warnings);
                TimeSpan interval = tracked.Warnings == 1 ? _options.FirstRepeatAfter
                    : TimeSpan.FromTicks(Math.Min(tracked.Interval.Ticks * 2, _options.MaxRepeatInterval.Ticks));
                tracked.Interval = interval;
                tracked.NextWarningAt = timestamp + (long)(interval.TotalSeconds * _time.TimestampFrequency);
            }
            foreach (string key in _tracked.Keys.Where(k => !seen.Contains(k)).ToList())
            {
                Tracked gone = _tracked[key];
                if (gone.Source is { } from && _failing.Contains(from))
                {
                    continue; // its source could not be read this poll: still tracked, said finished only once it is read without it
                }
                _tracked.Remove(key);
                if (gone.Warnings > 0)
                {
                    LogFinished(_logger, gone.Last.Kind, gone.Last.What, GlueText.Duration(gone.Last.Elapsed));
                }
            }
            Stuck = now;
            _stuckByKind = now.GroupBy(static w => w.Kind).ToDictionary(static g => g.Key, static g => g.Count(), StringComparer.Ordinal);
            return now;
        }
    }

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.PollInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                Poll();
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // stopping
        }
    }

    /// <inheritdoc />
    public override void Dispose()
    {
        _meter.Dispose();
        base.Dispose();
    }

    private bool TakeWarning(long timestamp)
    {
        if (_time.GetElapsedTime(_windowStart, timestamp) >= TimeSpan.FromMinutes(1))
        {
            if (_heldBack > 0)
            {
                LogHeldBack(_logger, _heldBack, _options.MaxWarningsPerMinute);
            }
            _windowStart = timestamp;
            _warningsInWindow = 0;
            _heldBack = 0;
        }
        if (_warningsInWindow >= _options.MaxWarningsPerMinute)
        {
            _heldBack++;
            return false;
        }
        _warningsInWindow++;
        return true;
    }

    private void Warn(StuckWork work, int number)
    {
        string stack = GlueText.StackOrWhy(work.Stack, work.Note);
        string? json = _options.IncludeStackJson ? work.Stack?.ToString(StackFormat.Json) : null;
        string elapsed = GlueText.Duration(work.Elapsed);
        _logger.Log(LogLevel.Warning, number == 1 ? StuckEvent : StillStuckEvent,
            new StuckLogState(work, number, elapsed, stack, json), null, static (state, _) => state.ToString());
        AddEvent(work, stack, elapsed);
    }

    /// <summary>The event on the operation's activity, or on a short activity of Stackscope's own when it has none (and something listens).</summary>
    private static void AddEvent(StuckWork work, string stack, string elapsed)
    {
        var tags = new ActivityTagsCollection
        {
            ["stackscope.kind"] = work.Kind,
            ["stackscope.what"] = work.What,
            ["stackscope.elapsed_s"] = work.Elapsed.TotalSeconds,
            ["stackscope.stack"] = stack,
        };
        var stuck = new ActivityEvent(EventName, tags: tags);
        if (work.Activity is { } own && !own.IsStopped)
        {
            own.AddEvent(stuck);
            return;
        }
        using Activity? activity = s_activities.StartActivity(EventName + " " + work.Kind, ActivityKind.Internal);
        if (activity is not null)
        {
            activity.SetTag("stackscope.kind", work.Kind);
            activity.SetTag("stackscope.what", work.What);
            activity.SetTag("stackscope.elapsed", elapsed);
            activity.AddEvent(stuck);
        }
    }

    private IEnumerable<Measurement<int>> ObserveStuck()
    {
        Dictionary<string, int> counts = Volatile.Read(ref _stuckByKind);
        foreach (KeyValuePair<string, int> kind in counts)
        {
            yield return new Measurement<int>(kind.Value, new KeyValuePair<string, object?>("stackscope.kind", kind.Key));
        }
    }

    private static readonly EventId StuckEvent = new(1, "StuckWork");
    private static readonly EventId StillStuckEvent = new(2, "StillStuckWork");

    [LoggerMessage(3, LogLevel.Information, "{StuckKind} {StuckWhat} finished; was stuck for {StuckElapsed}", EventName = "StuckWorkFinished")]
    private static partial void LogFinished(ILogger logger, string stuckKind, string stuckWhat, string stuckElapsed);

    [LoggerMessage(4, LogLevel.Warning, "{HeldBack} stuck-work warnings were held back in the last minute (MaxWarningsPerMinute {Max})", EventName = "StuckWorkHeldBack")]
    private static partial void LogHeldBack(ILogger logger, int heldBack, int max);

    [LoggerMessage(5, LogLevel.Warning, "Stackscope's stuck-work source {Source} failed; it is tried again every poll", EventName = "StuckWorkSourceFailed")]
    private static partial void LogSourceFailed(ILogger logger, string source, Exception exception);

    private sealed class Tracked(StuckWork first)
    {
        public IStuckWorkSource? Source { get; set; }

        public StuckWork Last { get; set; } = first;
        public int Warnings { get; set; }
        public long? NextWarningAt { get; set; }
        public TimeSpan Interval { get; set; }
    }
}
