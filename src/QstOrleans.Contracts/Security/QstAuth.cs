namespace QstOrleans.Contracts.Security;

/// <summary>A verified caller: the user name from the silos' tokens file and its role.</summary>
/// <param name="Name">The user's name (the tokens file's first column).</param>
/// <param name="IsAdmin">True for role <c>admin</c>: may read and control every job, and lists all of them.</param>
public sealed record QstPrincipal(string Name, bool IsAdmin)
{
    /// <summary>The form carried in the request context: <c>admin:NAME</c> or <c>user:NAME</c>.</summary>
    public string Encode() => (IsAdmin ? "admin:" : "user:") + Name;

    /// <summary>The principal <see cref="Encode"/> wrote; null for anything else.</summary>
    public static QstPrincipal? Decode(string? value) => value switch
    {
        ['a', 'd', 'm', 'i', 'n', ':', .. var name] => new QstPrincipal(name, true),
        ['u', 's', 'e', 'r', ':', .. var name] => new QstPrincipal(name, false),
        _ => null,
    };
}

/// <summary>
/// How client authentication travels: the client puts its token in the Orleans request context under
/// <see cref="TokenKey"/> on every call; a silo with a tokens file (<c>Qst:Auth:TokensFile</c>) verifies it, removes it
/// (so it never travels further), and sets the verified principal under <see cref="PrincipalKey"/>, overwriting whatever
/// the client sent there. Grains read the caller with <see cref="Caller"/>.
/// </summary>
public static class QstAuth
{
    /// <summary>Request-context key of the client's token (only between a client and the gateway silo).</summary>
    public const string TokenKey = "qst-token";
    /// <summary>Request-context key of the principal the silo verified (flows on to the grains the call reaches).</summary>
    public const string PrincipalKey = "qst-principal";
    /// <summary>The client option that gives the token, for error messages.</summary>
    public const string TokenOptions = "--token (or QST_TOKEN; QstClientOptions.Token in code)";

    /// <summary>The verified caller of the current grain call; null when the cluster has no tokens file, or for the
    /// cluster's own calls (startup, reminders, recovery) that no client started.</summary>
    public static QstPrincipal? Caller => QstPrincipal.Decode(Orleans.Runtime.RequestContext.Get(PrincipalKey) as string);
}
