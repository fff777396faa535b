using System.Diagnostics;
using QstOrleans.Cli.Bench.Reports;

namespace QstOrleans.Cli.Bench;

/// <summary>
/// Runs a hidden <c>qst bench</c> sub-command in a fresh process (so VmHWM and thread pools are its own)
/// and reads the one result line it prints: <c>BENCH-RESULT {json}</c>.
/// </summary>
internal static class BenchChild
{
    public const string Marker = "BENCH-RESULT ";

    /// <summary>Prints a result for the parent to pick up.</summary>
    public static void Emit<T>(T result) =>
        Console.WriteLine(Marker + System.Text.Json.JsonSerializer.Serialize(result, new System.Text.Json.JsonSerializerOptions(BenchJson.Options) { WriteIndented = false }));

    /// <summary>How to start this same <c>qst</c> with <paramref name="args"/> (stdout and stderr redirected).</summary>
    public static ProcessStartInfo StartInfo(IReadOnlyList<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        string self = Environment.ProcessPath ?? throw new InvalidOperationException("cannot find this process's executable");
        start.FileName = self;
        // Under `dotnet qst.dll` the host is dotnet: pass the assembly first.
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(BenchChild).Assembly.Location);
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) start.Environment[key] = value;
        return start;
    }

    /// <exception cref="InvalidOperationException">The child failed or printed no result (its output tail is in the message).</exception>
    /// <param name="cpu">Pin the child to this CPU (<see cref="BenchAffinity.StartPinned"/>), or run it anywhere.</param>
    public static T Run<T>(IReadOnlyList<string> args, TextWriter log, TimeSpan timeout, IReadOnlyDictionary<string, string>? environment = null, int? cpu = null)
    {
        var start = StartInfo(args, environment);
        log.WriteLine($"  $ qst {string.Join(' ', args)}");
        using var process = (cpu is { } pin ? BenchAffinity.StartPinned(start, pin) : Process.Start(start))
            ?? throw new InvalidOperationException("could not start a bench child process");
        var stderr = process.StandardError.ReadToEndAsync();
        var lines = new List<string>();
        string? line;
        while ((line = process.StandardOutput.ReadLine()) is not null) lines.Add(line);
        if (!process.WaitForExit(timeout)) { process.Kill(entireProcessTree: true); throw new InvalidOperationException($"qst {string.Join(' ', args)}: timed out after {timeout}"); }
        var result = lines.LastOrDefault(l => l.StartsWith(Marker, StringComparison.Ordinal));
        if (process.ExitCode != 0 || result is null)
        {
            // The cause is the first error line (libtorch then prints dozens of stack frames), then the tail.
            var errors = stderr.Result.Split('\n');
            string cause = errors.FirstOrDefault(l => l.StartsWith("error:", StringComparison.Ordinal) || l.Contains("Exception", StringComparison.Ordinal)) ?? "";
            string tail = string.Join('\n', lines.TakeLast(10)) + "\n" + string.Join('\n', errors.TakeLast(15));
            throw new InvalidOperationException($"qst {string.Join(' ', args)}: exit {process.ExitCode}, no result: {cause}\n{tail}");
        }
        return BenchJson.Deserialize<T>(result[Marker.Length..]);
    }
}
