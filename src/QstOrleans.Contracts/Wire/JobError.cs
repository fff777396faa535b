namespace QstOrleans.Contracts.Wire;

/// <summary>
/// What kind of error ended (or threatens) a job, which decides what recovery does with it and how the CLI exits:
/// <see cref="BadInput"/> fails the job at once (replaying the same input fails again; exit 2), <see cref="Transient"/>
/// is recovered from the latest checkpoint, <see cref="Fatal"/> fails the job (exit 1) after recovery gave up.
/// </summary>
public enum ErrorKind
{
    /// <summary>The job's input is bad: replaying it fails again.</summary>
    BadInput,
    /// <summary>An infrastructure failure: recovered from the latest checkpoint.</summary>
    Transient,
    /// <summary>Recovery gave up.</summary>
    Fatal,
}

/// <summary>
/// An error that crosses silos intact: the message and <see cref="ErrorKind"/> of an exception whose own type has no
/// Orleans codec (the engine's and storage's exception types never reference Orleans). Thrown in their place by the
/// silo's error boundary, so the caller sees the real message instead of "Could not find a codec for type …".
/// </summary>
[GenerateSerializer]
public sealed class QstErrorException : Exception
{
    /// <summary>For the serializer.</summary>
    public QstErrorException() { }

    /// <summary>An error of <paramref name="kind"/> standing for an exception of type <paramref name="errorType"/>.</summary>
    public QstErrorException(ErrorKind kind, string errorType, string message) : base(message)
    {
        Kind = kind;
        ErrorType = errorType;
    }

    /// <summary>How recovery treats it.</summary>
    [Id(0)] public ErrorKind Kind { get; init; }
    /// <summary>The original exception's type name (e.g. <c>SafeTensorsFormatException</c>), for logs and tests.</summary>
    [Id(1)] public string ErrorType { get; init; } = "";
}
