namespace QstOrleans.Tests.Cli;

/// <summary>A temporary directory removed after the test.</summary>
internal sealed class CliTestDirectory : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("qst-cli-").FullName;

    public string this[string name] => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { }
    }
}
