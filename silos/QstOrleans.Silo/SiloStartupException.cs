namespace QstOrleans.Silo;

/// <summary>
/// A start-up problem of the host's environment (Redis unreachable, a port taken) whose message is one line that
/// starts with the setting to change; <c>Program</c> prints it as <c>error: …</c> and exits with code 1, no stack trace.
/// </summary>
public sealed class SiloStartupException(string message, Exception? inner = null) : Exception(message, inner);
