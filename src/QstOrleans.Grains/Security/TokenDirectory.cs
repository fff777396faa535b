using Microsoft.Extensions.Logging;
using QstOrleans.Contracts.Security;

namespace QstOrleans.Grains.Security;

/// <summary>
/// The silo's current <see cref="TokensFile"/>: re-read when the file's modification time changes (checked at most once
/// per <see cref="AuthOptions.ReloadCheckPeriod"/>), so adding or revoking a user needs no restart. A file that no longer
/// parses (being edited) keeps the previous users and logs a warning naming the line (never its content).
/// </summary>
public sealed class TokenDirectory
{
    readonly AuthOptions _options;
    readonly ILogger _log;
    readonly Lock _gate = new();
    TokensFile _current;
    DateTime _stamp;
    long _nextCheck;

    /// <summary>Loads the file now: <see cref="ArgumentException"/> naming <c>Qst:Auth:TokensFile</c> when it is missing or bad.</summary>
    public TokenDirectory(AuthOptions options, ILogger<TokenDirectory> log)
    {
        _options = options;
        _log = log;
        string path = options.TokensFile ?? throw new ArgumentException("Qst:Auth:TokensFile: not set");
        _stamp = File.GetLastWriteTimeUtc(path);
        _current = TokensFile.Load(path);
        _nextCheck = Environment.TickCount64 + (long)options.ReloadCheckPeriod.TotalMilliseconds;
    }

    /// <summary>The user whose token this is; null for an unknown (or revoked) token.</summary>
    public QstPrincipal? Verify(string token) => Current().Verify(token);

    TokensFile Current()
    {
        if (Environment.TickCount64 < Volatile.Read(ref _nextCheck)) return _current;
        lock (_gate)
        {
            if (Environment.TickCount64 < _nextCheck) return _current;
            _nextCheck = Environment.TickCount64 + (long)_options.ReloadCheckPeriod.TotalMilliseconds;
            string path = _options.TokensFile!;
            try
            {
                var stamp = File.GetLastWriteTimeUtc(path);
                if (stamp == _stamp) return _current;
                _current = TokensFile.Load(path);
                _stamp = stamp;
                _log.LogInformation("tokens file {Path} reloaded: {Users} users", path, _current.Count);
            }
            catch (ArgumentException e)
            {
                _log.LogWarning("tokens file not reloaded, keeping the previous users: {Message}", e.Message);
            }
            return _current;
        }
    }
}
