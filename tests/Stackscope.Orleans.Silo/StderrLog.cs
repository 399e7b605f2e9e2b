using Microsoft.Extensions.Logging;

namespace Stackscope.Orleans.Silo;

/// <summary>
/// The runtime's warnings and errors, one short line each on stderr ("warn: category[event] message (ExceptionType:
/// first line of its message)"), kept by the tests and shown when one fails; stdout is left to the protocol lines.
/// Exceptions' stack traces are left out: a killed silo makes the others log a dozen connection failures each.
/// </summary>
internal sealed class StderrLog : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => new Category(categoryName);

    public void Dispose()
    {
    }

    private sealed class Category(string name) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel))
            {
                return;
            }
            string level = logLevel switch { LogLevel.Warning => "warn", LogLevel.Error => "fail", _ => "crit" };
            string line = $"{level}: {name}[{eventId.Id}] {formatter(state, exception)}";
            if (exception is not null)
            {
                line += $" ({exception.GetType().Name}: {exception.Message.Split('\n')[0].Trim()})";
            }
            Console.Error.WriteLine(line.ReplaceLineEndings(" "));
        }
    }
}
