using Orleans.Runtime;
using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Grains;

/// <summary>
/// Tells infrastructure faults (a silo died, a message was rejected or timed out, a connection broke) from
/// deterministic errors (bad input, a bug). The first kind is recovered from the latest checkpoint; the second
/// fails the job, because replaying it would fail again.
/// </summary>
public static class Faults
{
    public static bool IsInfrastructure(Exception e)
    {
        e = Unwrap(e);
        return e is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException
                   or Orleans.Runtime.Messaging.ConnectionFailedException or System.Net.Sockets.SocketException
               // The plain base type: forwarding failures and activation races while membership catches up.
               || e.GetType() == typeof(OrleansException);
    }

    /// <summary>Errors that replaying cannot fix: bad input, or checkpoints that belong to another spec or are all corrupt.</summary>
    public static bool IsDeterministic(Exception e)
    {
        e = Unwrap(e);
        return e is ArgumentException or InvalidDataException or FileNotFoundException or DirectoryNotFoundException or FormatException
            or CheckpointCorruptException or NotSupportedException;
    }

    public static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerException: { } inner }) e = inner;
        return e;
    }

    public static string Message(Exception e) => Unwrap(e).Message;
}

