using QstOrleans.Grains.Inputs;

namespace QstOrleans.Tests.Trust;

/// <summary>
/// Hostile paths a client may name: outside the roots, a symlink out (the path itself or an entry of a model directory),
/// a device, a huge line, an oversized file. Each is refused with a message naming the path and the rule, never the
/// file's content, and a path outside the roots reads the same whether it exists or not.
/// </summary>
public sealed class InputGuardTests : IDisposable
{
    const string Secret = "SECRET-CONTENT-7f3a";
    readonly string _root = Directory.CreateTempSubdirectory("qst-guard-").FullName;
    string Models => Path.Combine(_root, "models");
    string Data => Path.Combine(_root, "data");
    string Outside => Path.Combine(_root, "outside");

    public InputGuardTests()
    {
        foreach (var dir in new[] { Path.Combine(Models, "m"), Data, Outside }) Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(Models, "m", "config.json"), "{}");
        File.WriteAllText(Path.Combine(Data, "ok.jsonl"), "{\"instruction\": \"a\", \"output\": \"b\"}\n{\"instruction\": \"c\", \"output\": \"d\"}\n");
        File.WriteAllText(Path.Combine(Outside, "secret.json"), $"{{\"{Secret}\": \"{Secret}\"}}\n");
    }

    InputGuard Confined(Action<InputRoots>? tweak = null)
    {
        var roots = new InputRoots { Models = Models, Data = Data };
        tweak?.Invoke(roots);
        return new InputGuard(roots);
    }

    static InputRefusedException Refused(Action check)
    {
        var e = Assert.Throws<InputRefusedException>(check);
        Assert.DoesNotContain(Secret, e.Message);
        return e;
    }

    [Fact]
    public void PathsInsideTheRootsPass()
    {
        var guard = Confined();
        guard.CheckModelDirectory(Path.Combine(Models, "m"));
        guard.CheckDataFile(Path.Combine(Data, "ok.jsonl"));
        guard.CheckDataFile(Path.Combine(Data, ".", "..", "data", "ok.jsonl"));   // normalised before the check
    }

    [Fact]
    public void APathOutsideTheRootsIsRefusedTheSameWhetherItExistsOrNot()
    {
        var guard = Confined();
        string existing = Path.Combine(Outside, "secret.json"), missing = Path.Combine(Outside, "missing.json");
        var e = Refused(() => guard.CheckDataFile(existing));
        Assert.Contains(existing, e.Message);
        Assert.Contains("Qst:Roots:Data", e.Message);
        Assert.Equal(e.Message.Replace(existing, "P"), Refused(() => guard.CheckDataFile(missing)).Message.Replace(missing, "P"));
        Assert.Contains("Qst:Roots:Models", Refused(() => guard.CheckModelDirectory(Outside)).Message);
        Assert.Contains("Qst:Roots:Data", Refused(() => guard.CheckDataFile(Path.Combine(Data, "..", "outside", "secret.json"))).Message);
    }

    [Fact]
    public void SymlinksOutOfTheRootsAreRefused()
    {
        var guard = Confined();
        string link = Path.Combine(Data, "link.jsonl");
        File.CreateSymbolicLink(link, Path.Combine(Outside, "secret.json"));
        var e = Refused(() => guard.CheckDataFile(link));
        Assert.Contains(link, e.Message);
        Assert.Contains("after resolving symlinks", e.Message);

        // A directory symlink on the way counts too.
        Directory.CreateSymbolicLink(Path.Combine(Data, "sub"), Outside);
        Refused(() => guard.CheckDataFile(Path.Combine(Data, "sub", "secret.json")));

        // A model directory inside the roots whose config.json points elsewhere.
        string model = Path.Combine(Models, "linked");
        Directory.CreateDirectory(model);
        File.CreateSymbolicLink(Path.Combine(model, "config.json"), Path.Combine(Outside, "secret.json"));
        var m = Refused(() => guard.CheckModelDirectory(model));
        Assert.Contains("'config.json' links outside", m.Message);
        Assert.Contains("Qst:Roots:Models", m.Message);
    }

    [Fact]
    public void DevicesAreRefusedEvenWithoutRoots()
    {
        if (OperatingSystem.IsWindows()) return;
        var anywhere = new InputGuard(new InputRoots());
        Assert.True(new InputRoots().Unconfined);
        Assert.Contains("not a regular file", Refused(() => anywhere.CheckDataFile("/dev/zero")).Message);
        string model = Path.Combine(_root, "devmodel");
        Directory.CreateDirectory(model);
        File.CreateSymbolicLink(Path.Combine(model, "model.safetensors"), "/dev/zero");
        Assert.Contains("'model.safetensors' is not a regular file", Refused(() => anywhere.CheckModelDirectory(model)).Message);
        // With roots, /dev/zero is outside them before it is a device.
        Assert.Contains("Qst:Roots:Data", Refused(() => Confined().CheckDataFile("/dev/zero")).Message);
    }

    [Fact]
    public void A50MegabyteLineIsRefusedWithoutReadingItWhole()
    {
        string file = Path.Combine(Data, "long.jsonl");
        using (var stream = File.Create(file))
        {
            stream.Write("{\"instruction\": \"a\", \"output\": \"b\"}\n"u8);
            var chunk = new byte[1 << 20];
            Array.Fill(chunk, (byte)'x');
            for (int i = 0; i < 50; i++) stream.Write(chunk);
        }
        var e = Refused(() => Confined().CheckDataFile(file));
        Assert.Contains("line 2 is longer than the silo's cap of 4194304 bytes (Qst:Roots:MaxLineBytes)", e.Message);
        Assert.Contains("line 1 is longer than the silo's cap of 20", Refused(() => Confined(r => r.MaxLineBytes = 20).CheckDataFile(Path.Combine(Data, "ok.jsonl"))).Message);
        // Columnar files have no lines: only the size cap applies.
        File.Copy(file, Path.Combine(Data, "long.parquet"));
        Confined().CheckDataFile(Path.Combine(Data, "long.parquet"));
    }

    [Fact]
    public void FilesOverTheSizeCapsAreRefused()
    {
        string ok = Path.Combine(Data, "ok.jsonl");
        var e = Refused(() => Confined(r => r.MaxDataFileBytes = 10).CheckDataFile(ok));
        Assert.Contains($"more than the silo's cap of 10 (Qst:Roots:MaxDataFileBytes)", e.Message);
        var m = Refused(() => Confined(r => r.MaxModelJsonBytes = 1).CheckModelDirectory(Path.Combine(Models, "m")));
        Assert.Contains("'config.json' is larger than 1 bytes (Qst:Roots:MaxModelJsonBytes)", m.Message);
    }

    [Fact]
    public void DirectoriesMissingFilesAndLoopsAreNamed()
    {
        var guard = Confined();
        Assert.Contains("is a directory", Refused(() => guard.CheckDataFile(Data)).Message);
        Assert.Contains("does not exist on the silo", Refused(() => guard.CheckDataFile(Path.Combine(Data, "nope.jsonl"))).Message);
        Assert.Contains("does not exist on the silo", Refused(() => guard.CheckModelDirectory(Path.Combine(Models, "nope"))).Message);
        File.CreateSymbolicLink(Path.Combine(Data, "a"), Path.Combine(Data, "b"));
        File.CreateSymbolicLink(Path.Combine(Data, "b"), Path.Combine(Data, "a"));
        Assert.Contains("cannot be resolved", Refused(() => guard.CheckDataFile(Path.Combine(Data, "a"))).Message);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
