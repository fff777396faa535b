using QstOrleans.Grains.Hosting;

namespace QstOrleans.Tests.Trust;

/// <summary>Stale side-trainer scratch folders are removed at silo startup; fresh ones (a live upload) and others stay.</summary>
public sealed class TempFolderSweepTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("qst-sweep-").FullName;

    string Folder(string name, DateTime written)
    {
        string path = Path.Combine(_dir, name);
        Directory.CreateDirectory(path);
        string file = Path.Combine(path, "side.safetensors");
        File.WriteAllText(file, "x");
        File.SetLastWriteTimeUtc(file, written);
        Directory.SetLastWriteTimeUtc(path, written);
        return path;
    }

    [Fact]
    public void OnlyStaleScratchFoldersAreRemoved()
    {
        var now = DateTime.UtcNow;
        string staleSide = Folder("qst-side-0a", now.AddHours(-7));
        string staleRestore = Folder("qst-restore-0b", now.AddDays(-2));
        string fresh = Folder("qst-side-0c", now.AddMinutes(-5));
        string other = Folder("someone-else", now.AddDays(-3));
        // A folder touched recently inside (an upload still writing) counts as fresh even if the folder itself is old.
        string busy = Folder("qst-side-0d", now.AddHours(-8));
        File.WriteAllText(Path.Combine(busy, "new.bin"), "y");

        Assert.Equal(2, TempFolderSweep.Sweep(_dir, TimeSpan.FromHours(6), now));
        Assert.False(Directory.Exists(staleSide));
        Assert.False(Directory.Exists(staleRestore));
        Assert.True(Directory.Exists(fresh));
        Assert.True(Directory.Exists(other));
        Assert.True(Directory.Exists(busy));
        Assert.Equal(0, TempFolderSweep.Sweep(_dir, TimeSpan.FromHours(6), now));
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }
}
