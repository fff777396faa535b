using System.Text.RegularExpressions;

namespace QstOrleans.Contracts.Security;

/// <summary>
/// A Redis connection string may hold a password (<c>127.0.0.1:6379,password=…</c>, or <c>user=…</c> for an ACL user;
/// add <c>,ssl=true</c> for a Redis with TLS): messages and logs show it through <see cref="Redact"/>, and
/// <see cref="IsAuthenticationFailure"/> tells a refused password from a Redis that is down.
/// </summary>
public static partial class RedisSecrets
{
    /// <summary><paramref name="connection"/> with the values of <c>password=</c> and <c>user=</c> replaced by <c>***</c>.</summary>
    public static string Redact(string connection) => Secret().Replace(connection, "$1=***");

    /// <summary>True when <paramref name="e"/> (or an inner exception) says Redis refused the credentials (missing or wrong password).</summary>
    public static bool IsAuthenticationFailure(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x.Message.Contains("NOAUTH", StringComparison.Ordinal) || x.Message.Contains("WRONGPASS", StringComparison.Ordinal)
                || x.Message.Contains("AuthenticationFailure", StringComparison.Ordinal) || x.Message.Contains("authentication failure", StringComparison.OrdinalIgnoreCase))
                return true;
        return false;
    }

    [GeneratedRegex(@"\b(password|user)\s*=[^,]*", RegexOptions.IgnoreCase)]
    private static partial Regex Secret();
}
