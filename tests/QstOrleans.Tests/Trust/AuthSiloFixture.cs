using System.Collections.Concurrent;
using System.Security.Cryptography;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QstOrleans.Client;
using QstOrleans.Grains.Hosting;
using QstOrleans.Grains.Security;
using QstOrleans.Tests.Client;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Trust;

/// <summary>
/// One real silo with a tokens file (users alice and bob, admin root), reached through its gateway like any app, with every
/// log line it writes kept (Information and up) so tests can check that no token ever appears in them.
/// </summary>
public sealed class AuthSiloFixture : IAsyncLifetime
{
    readonly string _root = Directory.CreateTempSubdirectory("qst-auth-").FullName;
    IHost? _host;

    public string ClusterId { get; } = $"auth-{Guid.NewGuid():N}"[..20];
    public int GatewayPort { get; } = Loopback.FreePort();
    public string StateDirectory => Path.Combine(_root, "state");
    public string TokensPath => Path.Combine(_root, "tokens");
    public string ModelDirectory => Path.Combine(_root, "tiny");
    public string DataFile => Path.Combine(_root, "data.jsonl");
    /// <summary>Every line the silo logged (formatted message and exception).</summary>
    public ConcurrentQueue<string> Logs { get; } = new();
    /// <summary>The tokens, by user: random, as deploy/add-user.sh makes them; the file holds only their hashes.</summary>
    public Dictionary<string, string> Tokens { get; } = new()
    {
        ["alice"] = RandomToken(), ["bob"] = RandomToken(), ["root"] = RandomToken(),
    };

    public static string RandomToken() => Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32));

    /// <summary>Client options for this silo; <paramref name="token"/> null = no token.</summary>
    public QstClientOptions Options(string? token) => new()
    {
        GatewayPorts = [GatewayPort], ClusterId = ClusterId, ServiceId = LocalSiloHost.ServiceId, ConnectTimeout = TimeSpan.FromSeconds(60), Token = token,
    };

    /// <summary>A client of <paramref name="user"/> (a key of <see cref="Tokens"/>).</summary>
    public Task<QstClient> ConnectAs(string user) => QstClient.ConnectAsync(Options(Tokens[user]));

    /// <summary>A small job on the fixture's tiny model.</summary>
    public JobSpec Spec(int maxSteps, int epochs) => new()
    {
        ModelDirectory = ModelDirectory, DataFile = DataFile, MaxSteps = maxSteps, Epochs = epochs, MicroBatchSize = 4, Seed = 3, Stages = 1, Window = 2,
    };

    public void WriteTokens(params (string Name, string Role, string Token)[] users) =>
        File.WriteAllLines(TokensPath, ["# name role sha256(token)", .. users.Select(u => $"{u.Name} {u.Role} {TokensFile.Hash(u.Token)}")]);

    public void WriteDefaultTokens(params (string Name, string Role, string Token)[] extra) =>
        WriteTokens([("alice", "user", Tokens["alice"]), ("bob", "user", Tokens["bob"]), ("root", "admin", Tokens["root"]), .. extra]);

    public async Task InitializeAsync()
    {
        InProcessSilo.WriteTinyInputs(ModelDirectory, DataFile);
        WriteDefaultTokens();
        _host = await InProcessSilo.StartAsync(new LocalSiloOptions
        {
            StateDirectory = StateDirectory, Devices = ["cpu:0"], SiloPort = Loopback.FreePort(), GatewayPort = GatewayPort, ClusterId = ClusterId,
            Auth = new AuthOptions { TokensFile = TokensPath, ReloadCheckPeriod = TimeSpan.FromMilliseconds(100) },
        }, logging => logging.SetMinimumLevel(LogLevel.Information).AddProvider(new KeepingLoggerProvider(Logs)));
    }

    public Task DisposeAsync() => InProcessSilo.StopAsync(_host, _root);

    sealed class KeepingLoggerProvider(ConcurrentQueue<string> lines) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new KeepingLogger(lines, categoryName);
        public void Dispose() { }
    }

    sealed class KeepingLogger(ConcurrentQueue<string> lines, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception}");
    }
}
