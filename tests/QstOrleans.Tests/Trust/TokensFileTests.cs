using System.Diagnostics;
using QstOrleans.Grains.Security;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Trust;

/// <summary>The tokens file's format and errors, its hash against a published SHA-256 value, and deploy/add-user.sh.</summary>
public sealed class TokensFileTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("qst-tokens-").FullName;
    string PathOf(string name) => Path.Combine(_dir, name);

    [Fact]
    public void TheHashIsSha256OfTheUtf8Token()
    {
        // FIPS 180-2's example: SHA-256("abc").
        Assert.Equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", TokensFile.Hash("abc"));
    }

    [Fact]
    public void ALoadedFileVerifiesTokensByTheirHash()
    {
        File.WriteAllLines(PathOf("t"), ["# comment", "", $"alice user {TokensFile.Hash("s3cret")}", $"ops admin {TokensFile.Hash("0ther")}"]);
        var file = TokensFile.Load(PathOf("t"));
        Assert.Equal(2, file.Count);
        Assert.Equal(new Contracts.Security.QstPrincipal("alice", false), file.Verify("s3cret"));
        Assert.Equal(new Contracts.Security.QstPrincipal("ops", true), file.Verify("0ther"));
        Assert.Null(file.Verify("S3cret"));
    }

    [Theory]
    [InlineData("alice user my-plain-token", "line 1: the third field must be the SHA-256")]
    [InlineData("alice root HASH", "line 1: the role must be user or admin")]
    [InlineData("alice user", "line 1: expected 3 fields")]
    [InlineData("al/ice user HASH", "line 1: the user name")]
    [InlineData("alice user HASH\nalice admin HASH2", "line 2: user 'alice' is listed twice")]
    [InlineData("alice user HASH\nbob user HASH", "line 2: two users share one token")]
    public void ABadLineIsNamedAndNotQuoted(string content, string expected)
    {
        File.WriteAllText(PathOf("bad"), content.Replace("HASH2", TokensFile.Hash("b")).Replace("HASH", TokensFile.Hash("a")));
        var e = Assert.Throws<ArgumentException>(() => TokensFile.Load(PathOf("bad")));
        Assert.StartsWith($"Qst:Auth:TokensFile: '{PathOf("bad")}' {expected}", e.Message);
        Assert.DoesNotContain("my-plain-token", e.Message);
    }

    [Fact]
    public void AMissingFileIsNamed()
    {
        var e = Assert.Throws<ArgumentException>(() => TokensFile.Load(PathOf("none")));
        Assert.Contains($"Qst:Auth:TokensFile: cannot read '{PathOf("none")}'", e.Message);
    }

    [Fact]
    public void AddUserScriptWritesAHashAndPrintsAWorkingToken()
    {
        string file = PathOf("users");
        string alice = Run(file, "alice", "user").Trim();
        string root = Run(file, "root", "admin").Trim();
        var tokens = TokensFile.Load(file);
        Assert.Equal(new Contracts.Security.QstPrincipal("alice", false), tokens.Verify(alice));
        Assert.Equal(new Contracts.Security.QstPrincipal("root", true), tokens.Verify(root));
        Assert.DoesNotContain(alice, File.ReadAllText(file));
        Assert.Equal("600", Convert.ToString((int)File.GetUnixFileMode(file), 8));
        var again = Assert.Throws<InvalidOperationException>(() => Run(file, "alice", "user"));
        Assert.Contains("already", again.Message);
    }

    [Fact]
    public async Task ASiloWithABadTokensFileExits2NamingTheKey()
    {
        File.WriteAllText(PathOf("plain"), "alice user my-plain-token\n");
        using var silo = new ChildProcess("silo-bad-tokens", "dotnet", [RepoPaths.SiloDll, "--Qst:Auth:TokensFile", PathOf("plain"),
            "--Qst:SiloPort", Loopback.FreePort().ToString(), "--Qst:GatewayPort", Loopback.FreePort().ToString(), "--Qst:Http:Port", "0"], _dir);
        Assert.Equal(2, await silo.WaitForExit(TimeSpan.FromSeconds(90)));
        Assert.Contains($"error: Qst:Auth:TokensFile: '{PathOf("plain")}' line 1: the third field must be the SHA-256", silo.Output);
        Assert.DoesNotContain("my-plain-token", silo.Output);
    }

    static string Run(string file, string name, string role)
    {
        string script = Path.Combine(RepoPaths.Root, "deploy", "add-user.sh");
        using var p = Process.Start(new ProcessStartInfo("bash", [script, file, name, role]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        string stdout = p.StandardOutput.ReadToEnd(), stderr = p.StandardError.ReadToEnd();
        p.WaitForExit();
        return p.ExitCode == 0 ? stdout : throw new InvalidOperationException($"add-user.sh exited {p.ExitCode}: {stderr}");
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
