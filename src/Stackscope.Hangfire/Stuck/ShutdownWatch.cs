using System.Diagnostics;
using Hangfire.Server;
using Microsoft.Extensions.Logging;
using Stackscope.Glue;
using Stackscope.Hangfire.Inspection;
using Stackscope.Hangfire.Tracking;

namespace Stackscope.Hangfire.Stuck;

/// <summary>
/// When a server stops: the jobs still running <see cref="StackscopeHangfireOptions.ShutdownGrace"/> after their
/// cancellation token was cancelled (the server's stopped token, <c>StopTimeout</c> after the stop request) ignored it;
/// each is logged once as a warning with where it was. Runs on Stackscope's server process, so only in servers that have
/// it; returns as soon as none of the server's jobs is running, so a server whose jobs stop costs its shutdown nothing.
/// </summary>
internal static partial class ShutdownWatch
{
    /// <summary>The longest grace accepted.</summary>
    public static readonly TimeSpan MaxGrace = TimeSpan.FromSeconds(30);

    /// <summary>The longest the watch waits, after the stop request, for the server to cancel its jobs' tokens.</summary>
    private static readonly TimeSpan s_maxWait = TimeSpan.FromMinutes(10);

    private static readonly TimeSpan s_look = TimeSpan.FromMilliseconds(50);

    /// <summary>Watches <paramref name="context"/>'s server, which is stopping, until its jobs ended or the grace passed; logs those that did not stop.</summary>
    public static void Run(BackgroundProcessContext context, StackscopeHangfireOptions options, ILogger? logger)
    {
        TimeSpan grace = options.ShutdownGrace < TimeSpan.Zero ? TimeSpan.Zero : options.ShutdownGrace > MaxGrace ? MaxGrace : options.ShutdownGrace;
        long stopping = Stopwatch.GetTimestamp();
        var cancelledAt = new StrongBox();
        using CancellationTokenRegistration registration = context.StoppedToken.UnsafeRegister(static state => ((StrongBox)state!).Mark(), cancelledAt);
        while (true)
        {
            if (!RunningJobs.AnyRunning(TimeSpan.Zero, context.ServerId))
            {
                return;
            }
            long at = cancelledAt.Value;
            if (at != 0 && Stopwatch.GetElapsedTime(at) >= grace || context.ShutdownToken.IsCancellationRequested || Stopwatch.GetElapsedTime(stopping) >= s_maxWait)
            {
                break;
            }
            context.ShutdownToken.WaitHandle.WaitOne(s_look);
        }
        long cancelled = cancelledAt.Value;
        string since = cancelled != 0 ? "cancellation requested " + GlueText.Duration(Stopwatch.GetElapsedTime(cancelled)) + " ago"
            : "stop requested " + GlueText.Duration(Stopwatch.GetElapsedTime(stopping)) + " ago, its cancellation token not cancelled yet";
        JobsDump dump;
        try
        {
            dump = JobScan.Read(JobDumpOptions.Default with { StuckThreshold = TimeSpan.Zero, ReadThreadStacks = options.ReadThreadStacksWhenStuck }, context.ServerId);
        }
        catch (Exception e)
        {
            Write(logger, $"Stackscope could not read the jobs still running when server {context.ServerId} shut down: {e.GetType().Name}: {e.Message}", null);
            return;
        }
        foreach (ProcessingJob job in dump.Jobs)
        {
            string? why = job.Note ?? (dump.Errors.Count > 0 ? string.Join("; ", dump.Errors) : null);
            string stack = GlueText.StackOrWhy(job.Stack, job.Stack is null ? why : null);
            if (logger is not null)
            {
                LogDidNotStop(logger, job.ToString(), since, stack);
            }
            else
            {
                Write(null, $"{job} did not stop when the server shut down ({since}); its logical stack:\n{stack}", null);
            }
        }
    }

    private static void Write(ILogger? logger, string message, Exception? exception)
    {
        if (logger is not null)
        {
            logger.LogWarning(exception, "{Message}", message);
            return;
        }
        // Without a logger of its own (a server started by hand), Stackscope writes where Hangfire writes its own logs.
        global::Hangfire.Logging.LogProvider.GetLogger(typeof(StackscopeHangfire)).Log(global::Hangfire.Logging.LogLevel.Warn, () => message, exception);
    }

    [LoggerMessage(101, LogLevel.Warning, "{StuckWhat} did not stop when the server shut down ({SinceCancellation}); its logical stack:\n{StuckStack}", EventName = "JobIgnoredShutdown")]
    private static partial void LogDidNotStop(ILogger logger, string stuckWhat, string sinceCancellation, string stuckStack);

    private sealed class StrongBox
    {
        private long _value;

        public long Value => Volatile.Read(ref _value);

        public void Mark() => Interlocked.CompareExchange(ref _value, Stopwatch.GetTimestamp(), 0);
    }
}
