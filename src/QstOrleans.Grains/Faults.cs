using Orleans.Runtime;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;
using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Grains;

/// <summary>
/// Tells infrastructure faults (a silo died, a message was rejected or timed out, a connection broke) from
/// deterministic errors (bad input, a bug). The first kind is recovered from the latest checkpoint; the second
/// fails the job, because replaying it would fail again. An error that crossed silos as a <see cref="QstErrorException"/>
/// keeps the class it was given where it was thrown.
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
            or CheckpointCorruptException or NotSupportedException or UnauthorizedAccessException
            or ModelConfigException or ModelWeightsException or SafeTensorsFormatException or NonFiniteTrainingException
            or QstErrorException { Kind: ErrorKind.BadInput };
    }

    /// <summary>The class an error travels and is recorded with.</summary>
    public static ErrorKind Classify(Exception e) =>
        Unwrap(e) is QstErrorException remote ? remote.Kind
        : IsDeterministic(e) ? ErrorKind.BadInput
        : ErrorKind.Transient;

    /// <summary>The class a job that <paramref name="e"/> ended is recorded with: bad input, or fatal (any other error that
    /// ended it, e.g. infrastructure the job could not recover from).</summary>
    public static ErrorKind FinalKind(Exception e) => Classify(e) == ErrorKind.BadInput ? ErrorKind.BadInput : ErrorKind.Fatal;

    public static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerException: { } inner }) e = inner;
        return e;
    }

    public static string Message(Exception e) => Unwrap(e).Message;
}
