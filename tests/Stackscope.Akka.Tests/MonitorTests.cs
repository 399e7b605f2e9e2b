using Akka.Actor;
using Akka.TestKit.Xunit2;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Time.Testing;
using Stackscope.Monitoring;
using Xunit.Abstractions;

namespace Stackscope.Akka.Tests;

/// <summary>
/// Stuck actors and Asks reported by a real <see cref="StuckWorkMonitor"/> over a real actor system (polled by the test),
/// and Asks whose timeouts carry the asked actor's stack.
/// </summary>
[Collection("akka")]
public sealed class MonitorTests : TestKit
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(30);
    private readonly ITestOutputHelper _output;

    public MonitorTests(ITestOutputHelper output) : base(StackscopeAkka.TimedMailboxConfig, "shop", output)
    {
        _output = output;
        _wasTracking = TaskTracking.IsEnabled;
        Sys.UseStackscope(o => o.TrackHandlers = true); // process-wide: turned off again after the test if it was off
    }

    private readonly bool _wasTracking;

    protected override void Dispose(bool disposing)
    {
        if (disposing && !_wasTracking)
        {
            TaskTracking.Disable();
        }
        base.Dispose(disposing);
    }

    private static int Line(string marker) => ActorDumpTests.Line(marker);

    private async Task<(IActorRef Stock, Gate Gate)> StuckStock(ActorSystem system)
    {
        var gate = new Gate();
        IActorRef stock = system.ActorOf(Props.Create(() => new Stock(gate)), "stock");
        stock.Tell(new Reserve("sku-1"), TestActor);
        await ActorDumpTests.Suspended(gate);
        return (stock, gate);
    }

    /// <summary>Waits (bounded) until the actor is no longer busy, as the monitor reads it.</summary>
    private static void Finished(ActorSystem system, string path) =>
        Assert.True(SpinWait.SpinUntil(() => system.CaptureLogicalStacks().Find(path) is { IsBusy: false }, Bound), $"{path} stayed busy");

    /// <summary>What was logged, shown in the test's output, as a log would show it.</summary>
    private IReadOnlyList<FakeLogRecord> Logged(FakeLogger<StuckWorkMonitor> logs)
    {
        IReadOnlyList<FakeLogRecord> records = logs.Collector.GetSnapshot();
        foreach (FakeLogRecord record in records)
        {
            _output.WriteLine($"{record.Level} {record.Id.Id} {record.Id.Name}: {record.Message}");
        }
        return records;
    }

    [Fact]
    public async Task A_stuck_handler_gives_one_warning_with_its_stack_and_await_line_then_one_finished_line()
    {
        var logs = new FakeLogger<StuckWorkMonitor>();
        using var monitor = new StuckWorkMonitor([new ActorSystemStuckWork(Sys)], new StackscopeMonitorOptions { Threshold = TimeSpan.Zero }, logs);
        var (_, gate) = await StuckStock(Sys);

        StuckWork stuck = Assert.Single(monitor.Poll());
        monitor.Poll(); // still stuck: the next warning is a minute away
        string key = Assert.Single(monitor.Poll()).Key;

        IReadOnlyList<FakeLogRecord> logged = Logged(logs);
        Assert.Equal(stuck.Key, key); // the same handling of the same message on every poll
        Assert.Equal((ActorSystemStuckWork.ActorKind, "actor /user/stock handling Reserve"), (stuck.Kind, stuck.What));
        Assert.Null(stuck.Note); // the timed mailbox knows when Reserve was taken
        FakeLogRecord warning = Assert.Single(logged);
        Assert.Equal((LogLevel.Warning, "StuckWork"), (warning.Level, warning.Id.Name));
        Assert.StartsWith("Stuck akka.actor actor /user/stock handling Reserve: running for ", warning.Message);
        Assert.Contains($"async Task Stock..ctor(Gate gate)+(Reserve reserve) => {{ }} in Actors.cs:line {Line("stock-handler")}", warning.Message);
        Assert.Contains($"async Task<string> Stock.ReserveAsync(Reserve reserve) in Actors.cs:line {Line("stock-await")}", warning.Message);
        Assert.Equal("akka.actor", warning.GetStructuredStateValue("StuckKind"));
        LogicalStack fromJson = LogicalStack.FromJson(warning.GetStructuredStateValue("StuckStackJson")!);
        Assert.Equal([Line("stock-handler"), Line("stock-await")], fromJson.Frames.Select(static f => f.Location?.Line ?? 0));

        gate.Release.SetResult("2");
        ExpectMsg("2 reserved");
        Finished(Sys, "/user/stock");
        Assert.Empty(monitor.Poll());
        monitor.Poll();

        logged = Logged(logs);
        Assert.Equal(2, logged.Count);
        FakeLogRecord finished = logged[^1];
        Assert.Equal((LogLevel.Information, "StuckWorkFinished"), (finished.Level, finished.Id.Name));
        Assert.StartsWith("akka.actor actor /user/stock handling Reserve finished; was stuck for ", finished.Message);
    }

    [Fact]
    public async Task Without_the_timed_mailbox_the_time_counts_from_the_first_poll_and_the_note_says_so()
    {
        ActorSystem plain = ActorSystem.Create("plain");
        try
        {
            var time = new FakeTimeProvider();
            var source = new ActorSystemStuckWork(plain, time: time);
            var (_, gate) = await StuckStock(plain);

            Assert.Empty(source.Read(TimeSpan.FromSeconds(10))); // first seen now: 0 s of 10
            time.Advance(TimeSpan.FromSeconds(4));
            Assert.Empty(source.Read(TimeSpan.FromSeconds(10)));
            time.Advance(TimeSpan.FromSeconds(7));
            StuckWork stuck = Assert.Single(source.Read(TimeSpan.FromSeconds(10)));
            time.Advance(TimeSpan.FromSeconds(1));
            StuckWork again = Assert.Single(source.Read(TimeSpan.FromSeconds(10)));

            Assert.Equal(TimeSpan.FromSeconds(11), stuck.Elapsed);
            Assert.Equal(TimeSpan.FromSeconds(12), again.Elapsed);
            Assert.Equal(stuck.Key, again.Key);
            Assert.Equal("actor /user/stock handling Reserve", stuck.What);
            Assert.Contains("counted from the first poll that saw it (StackscopeAkka.TimedMailboxConfig gives the exact time)", stuck.Note);
            Assert.Contains(stuck.Stack!.Frames, f => f.Location?.Line == Line("stock-await"));

            gate.Release.SetResult("1");
            ExpectMsg("1 reserved");
            Finished(plain, "/user/stock");
            Assert.Empty(source.Read(TimeSpan.Zero));
        }
        finally
        {
            await plain.Terminate().WaitAsync(Bound);
        }
    }

    [Fact]
    public async Task An_Ask_awaited_outside_any_actor_is_reported_with_the_stack_of_the_actor_holding_it()
    {
        var logs = new FakeLogger<StuckWorkMonitor>();
        using var monitor = new StuckWorkMonitor([new ActorSystemStuckWork(Sys)], new StackscopeMonitorOptions { Threshold = TimeSpan.Zero }, logs);
        var gate = new Gate();
        IActorRef stock = Sys.ActorOf(Props.Create(() => new Stock(gate)), "stock");
        Task<string> reply = Checkout.ReserveAsync(stock, "sku-2", Bound);
        await ActorDumpTests.Suspended(gate);

        IReadOnlyList<StuckWork> stuck = monitor.Poll();

        IReadOnlyList<FakeLogRecord> logged = Logged(logs);
        StuckWork ask = Assert.Single(stuck, static w => w.Kind == ActorSystemStuckWork.AskKind);
        Assert.Equal("Ask Reserve → /user/stock", ask.What);
        Assert.Contains("akka.actor actor /user/stock handling Reserve", logged.Select(static e => e.GetStructuredStateValue("StuckKind") + " " + e.GetStructuredStateValue("StuckWhat")));
        string askWarning = Assert.Single(logged, static e => e.GetStructuredStateValue("StuckKind") == "akka.ask").Message;
        Assert.Contains("Ask Reserve → akka://shop/user/stock, processing it (Stock awaiting in its handler of Reserve)", askWarning);
        Assert.Contains($"Actors.cs:line {Line("stock-await")}", askWarning);
        Assert.Contains($"async Task<string> Checkout.ReserveAsync(IActorRef stock, string sku, TimeSpan timeout) in Actors.cs:line {Line("checkout-ask")}", askWarning); // who awaits it

        gate.Release.SetResult("3");
        Assert.Equal("3 reserved", await reply.WaitAsync(Bound));
    }

    [Fact]
    public async Task An_Ask_that_times_out_carries_the_stack_of_the_actor_holding_its_request()
    {
        var gate = new Gate();
        IActorRef stock = Sys.ActorOf(Props.Create(() => new Stock(gate)), "stock");

        AskTimeoutException timedOut = await Assert.ThrowsAsync<AskTimeoutException>(
            () => stock.AskWithStacks<string>(new Reserve("sku-3"), TimeSpan.FromMilliseconds(300)).WaitAsync(Bound));

        _output.WriteLine(timedOut.ToString());
        Assert.StartsWith("Timeout after 300 ms asking akka://shop/user/stock with Reserve; the logical stack of the Ask then:", timedOut.Message);
        Assert.Contains("Ask Reserve → akka://shop/user/stock, processing it (Stock awaiting in its handler of Reserve)", timedOut.Message);
        Assert.Contains($"async Task Stock..ctor(Gate gate)+(Reserve reserve) => {{ }} in Actors.cs:line {Line("stock-handler")}", timedOut.Message);
        Assert.Contains($"async Task<string> Stock.ReserveAsync(Reserve reserve) in Actors.cs:line {Line("stock-await")} · await #1", timedOut.Message);
        Assert.EndsWith("└ ⧗ TaskCompletionSource<string>.Task", timedOut.Message); // the message ends with the stack
        LogicalStackException inner = Assert.IsType<LogicalStackException>(timedOut.InnerException);
        Assert.Contains($"Stock.ReserveAsync(Reserve reserve) in ", inner.StackTrace);
        Assert.Contains($"Actors.cs:line {Line("stock-await")}", inner.StackTrace);

        // A reply in time is a plain Ask's.
        gate.Release.SetResult("4");
        Assert.Equal("4 reserved", await stock.AskWithStacks<string>(new Reserve("sku-4"), Bound).WaitAsync(Bound));
    }

    [Fact]
    public async Task Registered_in_services_with_the_system_or_resolving_it_the_monitor_reports_the_stuck_actor()
    {
        var (_, gate) = await StuckStock(Sys);
        foreach (bool resolve in new[] { false, true })
        {
            var logs = new FakeLogger<StuckWorkMonitor>();
            var services = new ServiceCollection();
            services.AddSingleton<ILogger<StuckWorkMonitor>>(logs);
            services.AddStackscopeMonitor(o => o.Threshold = TimeSpan.Zero);
            if (resolve)
            {
                services.AddSingleton(Sys).AddAkkaStuckWork();
            }
            else
            {
                services.AddAkkaStuckWork(Sys);
            }
            await using ServiceProvider provider = services.BuildServiceProvider();

            provider.GetRequiredService<StuckWorkMonitor>().Poll();

            Assert.Single(logs.Collector.GetSnapshot(), static e => e.Message.StartsWith("Stuck akka.actor actor /user/stock handling Reserve: ", StringComparison.Ordinal));
        }
        gate.Release.SetResult("5");
        ExpectMsg("5 reserved");
    }

    [Fact]
    public async Task A_monitor_started_on_a_system_polls_without_a_host_and_stops_with_the_system()
    {
        ActorSystem plain = ActorSystem.Create("plain", StackscopeAkka.TimedMailboxConfig);
        var logs = new FakeLogCollector();
        using ILoggerFactory loggerFactory = LoggerFactory.Create(b => b.AddProvider(new FakeLoggerProvider(logs)));
        StackscopeAkkaMonitor running = plain.StartStackscopeMonitor(loggerFactory, o => o.Threshold = TimeSpan.Zero);
        var (_, gate) = await StuckStock(plain);

        StuckWork stuck = Assert.Single(running.Monitor.Poll());
        Assert.Equal("actor /user/stock handling Reserve", stuck.What);
        FakeLogRecord warning = Assert.Single(logs.GetSnapshot(), static e => e.Id.Name == "StuckWork");
        Assert.Equal(typeof(StuckWorkMonitor).FullName, warning.Category);

        gate.Release.SetResult("6");
        ExpectMsg("6 reserved");
        await plain.Terminate().WaitAsync(Bound);
        await running.Monitor.ExecuteTask!.WaitAsync(Bound); // stopped with the system
        await running.DisposeAsync(); // a second stop does nothing
    }
}
