namespace QstOrleans.Contracts.Security;

/// <summary>
/// A silo with a tokens file refused a client's call: no token or an unknown one (<see cref="Unauthenticated"/>), or a
/// job of another user without the admin role. Crosses silos and reaches clients as itself (it has an Orleans codec);
/// <c>qst</c> exits with code 5.
/// </summary>
[GenerateSerializer]
public sealed class QstAccessDeniedException : Exception
{
    /// <summary>For the serializer.</summary>
    public QstAccessDeniedException() { }

    /// <summary>A refusal saying why.</summary>
    public QstAccessDeniedException(bool unauthenticated, string message) : base(message) => Unauthenticated = unauthenticated;

    /// <summary>True when the caller was not identified (missing or unknown token); false when it was, but may not do this.</summary>
    [Id(0)] public bool Unauthenticated { get; init; }
}
