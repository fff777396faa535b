using System.Text.RegularExpressions;

namespace QstOrleans.Tests.Architecture;

/// <summary>
/// The layout rules of issue 12 ("rooms that show the architecture"), read from the source tree so they stay true:
/// the CLI reaches grains only through the client library and the <c>LocalSiloHost</c> facade, no folder holds more
/// than 15 source files, the engine has no benchmark code, and the job grain's files stay short.
/// </summary>
public sealed partial class ArchitectureRulesTests
{
    const int MaxFilesPerFolder = 15;
    const int MaxJobGrainFileLines = 250;

    static readonly string Root = FindRepositoryRoot();

    [Fact]
    public void CliDoesNotImportGrainOrStorageInternals()
    {
        string cli = Path.Combine(Root, "src", "QstOrleans.Cli");
        var offenders = SourceFiles(cli)
            .SelectMany(f => ForbiddenCliReference().Matches(StripComments(File.ReadAllText(f)))
                .Select(m => $"{Relative(f)}: {m.Value}"))
            .ToList();
        Assert.True(SourceFiles(cli).Any(), $"no C# files under {cli}");
        Assert.True(offenders.Count == 0, "the CLI reaches grain or storage internals (use QstClient or LocalSiloHost):\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void NoFolderHoldsMoreThanFifteenSourceFiles()
    {
        var crowded = new[] { "src", "tests", "silos" }
            .Select(d => Path.Combine(Root, d))
            .Where(Directory.Exists)
            .SelectMany(d => SourceFiles(d))
            .GroupBy(f => Path.GetDirectoryName(f)!)
            .Where(g => g.Count() > MaxFilesPerFolder)
            .Select(g => $"{Relative(g.Key)}: {g.Count()} files")
            .ToList();
        Assert.True(crowded.Count == 0, $"folders with more than {MaxFilesPerFolder} .cs files:\n" + string.Join("\n", crowded));
    }

    [Fact]
    public void EngineHasNoBenchmarkCode()
    {
        string engine = Path.Combine(Root, "src", "QstOrleans.Model");
        Assert.False(Directory.Exists(Path.Combine(engine, "Benchmarks")), "src/QstOrleans.Model/Benchmarks exists again");
        var offenders = SourceFiles(engine)
            .Where(f => Regex.IsMatch(File.ReadAllText(f), @"^namespace\s+QstOrleans\.Model\.Benchmarks\b", RegexOptions.Multiline))
            .Select(Relative)
            .ToList();
        Assert.True(offenders.Count == 0, "benchmark code in the engine:\n" + string.Join("\n", offenders));
    }

    [Fact]
    public void JobGrainFilesStayShort()
    {
        var jobs = Path.Combine(Root, "src", "QstOrleans.Grains", "Jobs");
        var longFiles = SourceFiles(jobs)
            .Select(f => (File: f, Lines: File.ReadLines(f).Count()))
            .Where(x => x.Lines > MaxJobGrainFileLines)
            .Select(x => $"{Relative(x.File)}: {x.Lines} lines")
            .ToList();
        Assert.True(SourceFiles(jobs).Any(), $"no C# files under {jobs}");
        Assert.True(longFiles.Count == 0, $"job grain files over {MaxJobGrainFileLines} lines:\n" + string.Join("\n", longFiles));
    }

    /// <summary>The checks themselves: a forbidden reference in code is found, the same text in a comment is not.</summary>
    [Theory]
    [InlineData("using QstOrleans.Grains.Jobs;", true)]
    [InlineData("using QstOrleans.Grains.Persistence;", true)]
    [InlineData("using QstOrleans.Storage.Blobs;", true)]
    [InlineData("using QstOrleans.Storage;", true)]
    [InlineData("var h = Grains.Jobs.JobSpecHash.OfRequest(spec);", true)]
    [InlineData("var s = new QstOrleans.Grains.Side.SideSession();", true)]
    [InlineData("using QstOrleans.Grains.Hosting;", false)]
    [InlineData("var g = cluster.Client.Grains.GetGrain<IJob>(id);", false)]
    [InlineData("// we used to call Grains.Jobs.JobSpecHash here", false)]
    [InlineData("/* QstOrleans.Storage.Blobs */ int x = 1;", false)]
    public void ForbiddenReferencePatternMatchesCodeOnly(string code, bool forbidden) =>
        Assert.Equal(forbidden, ForbiddenCliReference().IsMatch(StripComments(code)));

    // Grain internals by namespace (a using or a qualified name, also relative to QstOrleans), and any storage namespace.
    [GeneratedRegex(@"(?<![\w.])(QstOrleans\.Storage\b|(QstOrleans\.)?Grains\.(Jobs|Side|Stages|Persistence)\b|Storage\.(Blobs|Checkpoints)\b)")]
    private static partial Regex ForbiddenCliReference();

    static string StripComments(string code) =>
        Regex.Replace(code, @"//[^\n]*|/\*.*?\*/", "", RegexOptions.Singleline);

    static IEnumerable<string> SourceFiles(string directory) =>
        Directory.EnumerateFiles(directory, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Split(Path.DirectorySeparatorChar).Any(part => part is "bin" or "obj"));

    static string Relative(string path) => Path.GetRelativePath(Root, path);

    static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QstOrleans.sln"))) return dir.FullName;
        throw new InvalidOperationException($"no QstOrleans.sln above {AppContext.BaseDirectory}");
    }
}
