namespace QstOrleans.Contracts.Wire;

/// <summary>
/// Job ids become grain keys, storage keys, checkpoint folder names and log fields: only letters, digits, <c>-</c>,
/// <c>_</c> and <c>.</c>, at most <see cref="MaxLength"/> characters, not starting with a dot (no <c>..</c>, no newline).
/// </summary>
public static class JobIds
{
    /// <summary>Longest job id accepted.</summary>
    public const int MaxLength = 100;

    /// <summary>Why <paramref name="id"/> is not a valid job id, or null when it is.</summary>
    public static string? Problem(string? id)
    {
        if (string.IsNullOrEmpty(id)) return "job id must not be empty";
        string shown = id.Length > 40 ? id[..40] + "…" : id;
        shown = new string(shown.Select(c => char.IsControl(c) ? '?' : c).ToArray());
        if (id.Length > MaxLength) return $"job id '{shown}' is {id.Length} characters long, more than {MaxLength}";
        if (id[0] == '.') return $"job id '{shown}' must not start with '.'";
        if (id.Any(c => !(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')))
            return $"job id '{shown}' may hold only letters, digits, '-', '_' and '.'";
        return null;
    }
}
