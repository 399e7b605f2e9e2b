using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Stackscope.Monitoring;

namespace Stackscope.Tests;

/// <summary>
/// The stuck-work monitor over watched tasks: one warning per operation with its stack, a finished line, the gauge and the
/// activity event (read by the runtime's listeners and by the OpenTelemetry SDK), rate limits, a failing source.
/// </summary>
[Collection(nameof(TrackingCollection))] // the activity source and meter are process-wide: these tests run alone
public sealed class MonitorTests(Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task A_stuck_task_gives_one_warning_with_its_stack_and_one_finished_line()
    {
        var logs = new ListLogger();
        var watched = new WatchedTasks();
        using var monitor = new StuckWorkMonitor([watched], new StackscopeMonitorOptions { Threshold = TimeSpan.Zero }, logs);
        var gate = new TaskCompletionSource();
        Task order = watched.Watch(MonitorSubjects.PlaceOrder(gate.Task), "place order 1001");

        monitor.Poll();
        monitor.Poll(); // still stuck, but the next warning is a minute away

        ListLogger.Entry warning = Assert.Single(logs.Entries);
        Assert.Equal((LogLevel.Warning, "StuckWork"), (warning.Level, warning.Event.Name));
        Assert.StartsWith("Stuck task place order 1001: running for ", warning.Message);
        Assert.Contains($"async Task MonitorSubjects.PlaceOrder(Task gate) in MonitorSubjects.cs:line {MonitorSubjects.Line("place-order")}", warning.Message);
        Assert.Contains($"async Task MonitorSubjects.Reserve(Task gate) in MonitorSubjects.cs:line {MonitorSubjects.Line("reserve")}", warning.Message);
        Assert.Equal("task", warning.Properties["StuckKind"]);
        Assert.Equal("place order 1001", warning.Properties["StuckWhat"]);
        LogicalStack fromJson = LogicalStack.FromJson((string)warning.Properties["StuckStackJson"]!);
        Assert.Equal(["PlaceOrder", "Reserve"], fromJson.Frames.Select(static f => f.MethodName));
        Assert.DoesNotContain("StuckStackJson", warning.Message);

        gate.SetResult();
        await order;
        monitor.Poll();
        ListLogger.Entry finished = logs.Entries[^1];
        Assert.Equal(2, logs.Entries.Count);
        Assert.Equal((LogLevel.Information, "StuckWorkFinished"), (finished.Level, finished.Event.Name));
        Assert.StartsWith("task place order 1001 finished; was stuck for ", finished.Message);
        foreach (ListLogger.Entry entry in logs.Entries)
        {
            output.WriteLine($"{entry.Level}: {entry.Event.Id} {entry.Event.Name}: {entry.Message}");
        }
        Assert.Empty(monitor.Stuck);
    }

    [Fact]
    public async Task The_gauge_and_the_activity_event_reach_listeners_and_the_OpenTelemetry_SDK()
    {
        var measured = new List<(int Value, string? Kind)>();
        using var meters = new MeterListener();
        meters.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == StuckWorkMonitor.MeterName)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        meters.SetMeasurementEventCallback<int>((_, value, tags, _) => measured.Add((value, tags.ToArray().FirstOrDefault(t => t.Key == "stackscope.kind").Value as string)));
        meters.Start();
        var events = new List<ActivityEvent>();
        using var activities = new ActivityListener
        {
            ShouldListenTo = static source => source.Name is StuckWorkMonitor.ActivitySourceName or "Shop",
            Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllDataAndRecorded,
            ActivityStopped = a => events.AddRange(a.Events),
        };
        ActivitySource.AddActivityListener(activities);
        var exportedMetrics = new List<Metric>();
        var exportedActivities = new List<Activity>();
        using MeterProvider meterProvider = Sdk.CreateMeterProviderBuilder().AddMeter(StuckWorkMonitor.MeterName).AddInMemoryExporter(exportedMetrics).Build();
        using TracerProvider tracerProvider = Sdk.CreateTracerProviderBuilder().AddSource(StuckWorkMonitor.ActivitySourceName).AddInMemoryExporter(exportedActivities).Build();

        var watched = new WatchedTasks();
        using var monitor = new StuckWorkMonitor([watched], new StackscopeMonitorOptions { Threshold = TimeSpan.Zero }, new ListLogger());
        var gate = new TaskCompletionSource();
        Task without = watched.Watch(MonitorSubjects.PlaceOrder(gate.Task), "no trace of its own");
        using var shop = new ActivitySource("Shop");
        Activity request = shop.StartActivity("checkout")!;
        Task with = watched.Watch(MonitorSubjects.PlaceOrder(gate.Task), "in a checkout trace");
        request.Stop();
        // Ended before the poll: the event then goes to an activity of Stackscope's own, as for work without one.

        Activity running = shop.StartActivity("checkout-running")!;
        Activity.Current = null;
        Task inRunning;
        using (new ActivityScope(running))
        {
            inRunning = watched.Watch(MonitorSubjects.PlaceOrder(gate.Task), "in a running checkout");
        }
        monitor.Poll();
        running.Stop();

        meters.RecordObservableInstruments();
        Assert.Contains((3, "task"), measured);
        Assert.Equal(3, events.Count(static e => e.Name == StuckWorkMonitor.EventName));
        ActivityEvent onOwn = Assert.Single(running.Events);
        Assert.Equal("in a running checkout", onOwn.Tags.First(static t => t.Key == "stackscope.what").Value);
        Assert.Contains($"MonitorSubjects.cs:line {MonitorSubjects.Line("reserve")}", (string)onOwn.Tags.First(static t => t.Key == "stackscope.stack").Value!);

        meterProvider.ForceFlush();
        tracerProvider.ForceFlush();
        Metric gauge = Assert.Single(exportedMetrics, static m => m.Name == "stackscope.stuck.operations");
        var points = new List<long>();
        foreach (ref readonly MetricPoint point in gauge.GetMetricPoints())
        {
            points.Add(point.GetGaugeLastValueLong());
        }
        Assert.Contains(3L, points);
        Assert.Equal(2, exportedActivities.Count(static a => a.Events.Any(static e => e.Name == StuckWorkMonitor.EventName)));

        gate.SetResult();
        await Task.WhenAll(without, with, inRunning);
    }

    [Fact]
    public void Warnings_beyond_the_limit_wait_and_a_failing_source_is_said_once()
    {
        var logs = new ListLogger();
        var gate = new TaskCompletionSource();
        var watched = new WatchedTasks();
        watched.Watch(MonitorSubjects.PlaceOrder(gate.Task), "first");
        watched.Watch(MonitorSubjects.PlaceOrder(gate.Task), "second");
        using var monitor = new StuckWorkMonitor([watched, new FailingSource()],
            new StackscopeMonitorOptions { Threshold = TimeSpan.Zero, MaxWarningsPerMinute = 1 }, logs);

        monitor.Poll();
        monitor.Poll();

        Assert.Single(logs.Entries, static e => e.Event.Name == "StuckWork");
        ListLogger.Entry failed = Assert.Single(logs.Entries, static e => e.Event.Name == "StuckWorkSourceFailed");
        Assert.Equal(typeof(InvalidOperationException), failed.Exception?.GetType());
        Assert.Equal(2, monitor.Stuck.Count);
        gate.SetResult();
        Assert.Throws<ArgumentOutOfRangeException>(() => new StuckWorkMonitor([], new StackscopeMonitorOptions { PollInterval = TimeSpan.Zero }, logs));
    }

    [Fact]
    public void A_logical_stack_becomes_an_exception_whose_trace_is_its_frames()
    {
        var gate = new TaskCompletionSource();
        LogicalStack stack = StackExtractor.Extract(MonitorSubjects.PlaceOrder(gate.Task));

        Exception exception = stack.ToException();

        Assert.Equal("waiting on " + stack.Leaf!.Description, exception.Message);
        string[] lines = exception.StackTrace!.Split(Environment.NewLine);
        Assert.Equal(2, lines.Length);
        Assert.Matches(@"^   at Stackscope\.Tests\.MonitorSubjects\.Reserve\(Task gate\) in .*MonitorSubjects\.cs:line \d+$", lines[0]);
        Assert.EndsWith($"MonitorSubjects.cs:line {MonitorSubjects.Line("reserve")}", lines[0]);
        Assert.StartsWith("   at Stackscope.Tests.MonitorSubjects.PlaceOrder(Task gate) in ", lines[1]);
        Assert.Contains(lines[0], exception.ToString());
        gate.SetResult();
    }

    [Fact]
    public void A_note_is_written_under_the_stack_and_a_source_that_fails_for_a_poll_does_not_finish_its_work()
    {
        var logs = new ListLogger();
        var gate = new TaskCompletionSource();
        LogicalStack stack = StackExtractor.Extract(MonitorSubjects.PlaceOrder(gate.Task));
        var source = new ScriptedSource();
        using var monitor = new StuckWorkMonitor([source], new StackscopeMonitorOptions { Threshold = TimeSpan.Zero }, logs);

        source.Next = () => [new StuckWork("test", "k1", "order 1001", TimeSpan.FromSeconds(40)) { Stack = stack, Note = "mailbox: 2 queued" }];
        monitor.Poll();
        source.Next = static () => throw new TimeoutException("the read did not finish in time");
        monitor.Poll();
        Assert.DoesNotContain(logs.Entries, static e => e.Event.Name == "StuckWorkFinished"); // unknown is not finished
        source.Next = static () => [];
        monitor.Poll();

        ListLogger.Entry warning = Assert.Single(logs.Entries, static e => e.Event.Name == "StuckWork");
        Assert.EndsWith("TaskCompletionSource.Task\n(mailbox: 2 queued)", warning.Message);
        Assert.Single(logs.Entries, static e => e.Event.Name == "StuckWorkSourceFailed");
        Assert.Single(logs.Entries, static e => e.Event.Name == "StuckWorkFinished");
        gate.SetResult();
    }

    private sealed class ScriptedSource : IStuckWorkSource
    {
        public Func<IEnumerable<StuckWork>> Next { get; set; } = static () => [];

        public IEnumerable<StuckWork> Read(TimeSpan threshold) => Next();
    }

    private sealed class FailingSource : IStuckWorkSource
    {
        public IEnumerable<StuckWork> Read(TimeSpan threshold) => throw new InvalidOperationException("the framework is gone");
    }

    /// <summary>Makes <paramref name="activity"/> current for a scope, then restores what was.</summary>
    private sealed class ActivityScope : IDisposable
    {
        private readonly Activity? _previous = Activity.Current;

        public ActivityScope(Activity activity) => Activity.Current = activity;

        public void Dispose() => Activity.Current = _previous;
    }
}

/// <summary>Collects what is logged, with each entry's structured properties.</summary>
internal sealed class ListLogger : ILogger<StuckWorkMonitor>
{
    public sealed record Entry(LogLevel Level, EventId Event, string Message, IReadOnlyDictionary<string, object?> Properties, Exception? Exception);

    private readonly List<Entry> _entries = new();

    public IReadOnlyList<Entry> Entries
    {
        get
        {
            lock (_entries)
            {
                return _entries.ToList();
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var properties = (state as IEnumerable<KeyValuePair<string, object?>>)?.ToDictionary(static p => p.Key, static p => p.Value) ?? new Dictionary<string, object?>();
        lock (_entries)
        {
            _entries.Add(new Entry(logLevel, eventId, formatter(state, exception), properties, exception));
        }
    }
}
