using Akka.Actor;
using Akka.Dispatch;
using Akka.Event;

namespace Stackscope.Akka.Node;

/// <summary>
/// Akka's log, warnings and errors, one short line each on stderr ("warn: [source] message (ExceptionType: first line of
/// its message)"), kept by the tests and shown when one fails; stdout is left to the protocol lines. Exceptions' stack
/// traces are left out: a killed node makes the others log a dozen connection failures each.
/// </summary>
public sealed class StderrLogger : ReceiveActor, IRequiresMessageQueue<ILoggerMessageQueueSemantics>
{
    public StderrLogger()
    {
        Receive<InitializeLogger>(_ => Sender.Tell(new LoggerInitialized()));
        Receive<LogEvent>(e =>
        {
            string level = e.LogLevel() switch { LogLevel.WarningLevel => "warn", LogLevel.ErrorLevel => "fail", LogLevel.InfoLevel => "info", _ => "dbug" };
            string line = $"{level}: [{e.LogSource}] {e.Message}";
            if (e is Error { Cause: { } cause })
            {
                line += $" ({cause.GetType().Name}: {cause.Message.Split('\n')[0].Trim()})";
            }
            Console.Error.WriteLine(line.ReplaceLineEndings(" "));
        });
    }
}
