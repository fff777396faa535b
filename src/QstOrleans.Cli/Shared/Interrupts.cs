using System.Runtime.InteropServices;

namespace QstOrleans.Cli.Shared;

/// <summary>
/// Ctrl+C (SIGINT) for the commands that stop cleanly (<c>train-local</c>, <c>train</c>, <c>resume</c>): the first one
/// cancels <see cref="Token"/>, and the command saves what it has (the run folder, a job checkpoint) and exits
/// <see cref="ExitCode"/>; a second one ends the process at once (the default SIGINT action, exit status 130).
/// Such a command marks itself with <see cref="StopsCleanly"/>; the others keep System.CommandLine's handling
/// (token cancelled, forced exit 130 two seconds later), which would cut a checkpoint short.
/// </summary>
internal sealed class Interrupts : IDisposable
{
    /// <summary>The exit code of an interrupted command (128 + SIGINT, what a shell reports for Ctrl+C).</summary>
    public const int ExitCode = 130;

    static readonly HashSet<Command> CleanStoppers = [];
    static volatile bool _requested;

    readonly CancellationTokenSource _cancel = new();
    readonly PosixSignalRegistration _registration;
    int _signals;

    Interrupts() => _registration = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);

    /// <summary>The token the command's action receives: cancelled by the first Ctrl+C.</summary>
    public CancellationToken Token => _cancel.Token;

    /// <summary>Whether a Ctrl+C arrived (an operation cancelled by it is an interruption, not a cluster error).</summary>
    public static bool Requested => _requested;

    /// <summary>Marks <paramref name="command"/> as one that saves its work on the first Ctrl+C.</summary>
    public static Command StopsCleanly(Command command)
    {
        lock (CleanStoppers) CleanStoppers.Add(command);
        return command;
    }

    /// <summary>Whether <paramref name="command"/> handles Ctrl+C itself (see <see cref="StopsCleanly"/>).</summary>
    public static bool Handles(Command command)
    {
        lock (CleanStoppers) return CleanStoppers.Contains(command);
    }

    /// <summary>Takes over SIGINT until disposed.</summary>
    public static Interrupts Install() => new();

    void OnSignal(PosixSignalContext context)
    {
        if (Interlocked.Increment(ref _signals) > 1)
        {
            // The second Ctrl+C: the runtime's default action ends the process now.
            context.Cancel = false;
            return;
        }
        context.Cancel = true;
        _requested = true;
        Console.Error.WriteLine("interrupted: stopping cleanly (press Ctrl+C again to exit now)");
        _cancel.Cancel();
    }

    public void Dispose()
    {
        _registration.Dispose();
        _cancel.Dispose();
    }
}
