using Microsoft.Extensions.Logging;

namespace QstOrleans.Cli.Cluster;

/// <summary>
/// Where the in-process cluster of <c>qst train --local</c> logs: warnings and errors, with their stack traces, appended to
/// <c>silo.log</c> in the state folder. The command itself prints what happened to the job once (a rejection, a failure,
/// the recoveries in the summary), so stderr carries one line per error and the details stay at hand.
/// </summary>
internal sealed class SiloLogFile(string path) : ILoggerProvider
{
    public const string FileName = "silo.log";

    readonly object _gate = new();
    StreamWriter? _writer;

    public string Path { get; } = path;

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    void Write(string text)
    {
        lock (_gate)
        {
            _writer ??= new StreamWriter(Path, append: true) { AutoFlush = true };
            _writer.WriteLine(text);
        }
    }

    public void Dispose()
    {
        lock (_gate) _writer?.Dispose();
    }

    sealed class Logger(SiloLogFile file, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (!IsEnabled(logLevel)) return;
            string line = $"{DateTime.UtcNow:yyyy-MM-dd HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}";
            file.Write(exception is null ? line : $"{line}{Environment.NewLine}{exception}");
        }
    }
}
