using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using QstOrleans.Contracts.Security;

namespace QstOrleans.Grains.Security;

/// <summary>
/// The users a silo accepts (<c>Qst:Auth:TokensFile</c>): one line per user, <c>NAME ROLE SHA256</c>, where ROLE is
/// <c>user</c> or <c>admin</c> and SHA256 is the lowercase hex SHA-256 of the user's token (UTF-8), never the token itself;
/// blank lines and lines starting with <c>#</c> are ignored. <c>deploy/add-user.sh</c> adds a user and prints its token.
/// </summary>
public sealed partial class TokensFile
{
    readonly Dictionary<string, QstPrincipal> _byHash;

    TokensFile(Dictionary<string, QstPrincipal> byHash) => _byHash = byHash;

    /// <summary>How many users the file lists.</summary>
    public int Count => _byHash.Count;

    /// <summary>The lowercase hex SHA-256 of <paramref name="token"/>'s UTF-8 bytes: what the file stores.</summary>
    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>The user whose token this is; null for an unknown token.</summary>
    public QstPrincipal? Verify(string token) => _byHash.GetValueOrDefault(Hash(token));

    /// <summary>Reads and checks the file; <see cref="ArgumentException"/> naming <paramref name="option"/>, the path and the line.</summary>
    public static TokensFile Load(string path, string option = "Qst:Auth:TokensFile")
    {
        string[] lines;
        try { lines = File.ReadAllLines(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ArgumentException($"{option}: cannot read '{path}': {e.Message}");
        }
        var byHash = new Dictionary<string, QstPrincipal>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < lines.Length; i++)
        {
            string line = lines[i].Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            string where = $"{option}: '{path}' line {i + 1}";
            var fields = line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            // The line is never quoted in errors: a token pasted by mistake would end up in a log.
            if (fields.Length != 3) throw new ArgumentException($"{where}: expected 3 fields 'NAME ROLE SHA256', found {fields.Length}");
            var (name, role, hash) = (fields[0], fields[1], fields[2]);
            if (!NamePattern().IsMatch(name)) throw new ArgumentException($"{where}: the user name must be 1-64 of A-Z a-z 0-9 . _ @ -");
            if (role is not ("user" or "admin")) throw new ArgumentException($"{where}: the role must be user or admin");
            if (!HashPattern().IsMatch(hash))
                throw new ArgumentException($"{where}: the third field must be the SHA-256 of the token (64 lowercase hex digits), never the token itself (deploy/add-user.sh writes it)");
            if (!names.Add(name)) throw new ArgumentException($"{where}: user '{name}' is listed twice");
            if (!byHash.TryAdd(hash, new QstPrincipal(name, role == "admin"))) throw new ArgumentException($"{where}: two users share one token");
        }
        return new TokensFile(byHash);
    }

    [GeneratedRegex("^[A-Za-z0-9._@-]{1,64}$")]
    private static partial Regex NamePattern();

    [GeneratedRegex("^[0-9a-f]{64}$")]
    private static partial Regex HashPattern();
}
