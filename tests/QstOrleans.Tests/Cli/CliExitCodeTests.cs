namespace QstOrleans.Tests.Cli;

/// <summary>
/// Exit codes and errors, the same for every verb, on the built CLI: bad input exits 2, a failure 1, success 0; an error
/// is one "error: …" line, printed once, never a stack trace; out-of-range options are refused naming the option.
/// </summary>
public sealed class CliExitCodeTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    /// <summary>Command line ({model}, {data}, {tmp} filled in), expected exit code, text that must appear exactly once.</summary>
    public static TheoryData<string, int, string> Cases => new()
    {
        // Option ranges, named by option (and config key).
        { "train-local --model {model} --data {data} --threads 0", 2, "--threads) must be >= 1, got 0" },
        { "train-local --model {model} --data {data} --epochs 0", 2, "--epochs) must be >= 1, got 0" },
        { "train-local --model {model} --data {data} --lr 0", 2, "--lr) must be > 0, got 0" },
        { "train-local --model {model} --data {data} --micro-batch-size 0", 2, "--micro-batch-size) must be >= 1, got 0" },
        { "train --local --model {model} --data {data} --epochs 0 --state-dir {tmp}/state", 2, "--epochs) must be >= 1, got 0" },
        { "train --local --model {model} --data {data} --lr -1 --state-dir {tmp}/state", 2, "--lr) must be > 0, got -1" },
        { "train --local --model {model} --data {data} --poll-ms 0 --state-dir {tmp}/state", 2, "--poll-ms must be >= 10, got 0" },
        { "make-data --out {tmp}/d.jsonl --count 0", 2, "--count must be >= 1, got 0" },
        { "generate --model {model} --prompt hi --max-new-tokens 0", 2, "--max-new-tokens must be >= 1, got 0" },
        { "generate --model {model} --prompt hi --top-p 1.5", 2, "--top-p must be > 0 and <= 1, got 1.5" },
        { "eval --model {model} --side {tmp} --threads 0", 2, "--threads) must be >= 1, got 0" },
        // Parse errors: once, on stderr, exit 2 (not System.CommandLine's 1 with the whole help).
        { "train-local --no-such-option", 2, "Unrecognized command or argument '--no-such-option'" },
        { "train-local --threads x", 2, "Cannot parse argument 'x' for option '--threads'" },
        { "eval --model {model}", 2, "Option '--side' is required" },
        // Missing or bad files and unknown jobs.
        { "train-local --model {model} --data {tmp}/missing.jsonl", 2, "Dataset file '{tmp}/missing.jsonl' does not exist" },
        { "train --local --model {model} --data {tmp}/missing.jsonl --state-dir {tmp}/state", 2, "missing.jsonl' does not exist" },
        { "resume no-such-job --local --state-dir {tmp}/state", 2, "no job 'no-such-job'" },
        { "status some-job", 2, "no cluster given" },
        { "eval --model {model} --side {tmp}/missing", 2, "'{tmp}/missing' is not a folder" },
        { "eval --model {model} --side {tmp} --mmlu {tmp}/none", 2, "'{tmp}/none' is neither a file nor a folder" },
        { "plot {tmp}/missing", 2, "run folder '{tmp}/missing' does not exist" },
        { "make-model --preset nope --out {tmp}/m", 2, "unknown preset 'nope' (known: tiny, llama-134m, llama-1b, llama2-7b, llama2-13b, llama2-70b)" },
        // A failure that is not bad input (the output path is a folder): exit 1, one line.
        { "make-data --out {tmp} --count 1", 1, "Access to the path '{tmp}' is denied" },
        // Success.
        { "make-data --out {tmp}/d.jsonl --count 3", 0, "wrote 3 examples" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task EveryVerbExitsWithItsCodeAndPrintsAnErrorOnce(string commandLine, int expected, string text)
    {
        using var dir = new TestDirectory();
        string Fill(string s) => s.Replace("{model}", tiny.ModelDirectory).Replace("{data}", tiny.DataFile).Replace("{tmp}", dir.Path);
        using var qst = QstProcess.Start(dir.Path, Fill(commandLine).Split(' '));
        int code = await qst.WaitForExit(Limit);
        string output = qst.Output;
        Assert.True(code == expected, $"exit code {code}, expected {expected}:\n{output}");
        Assert.True(QstProcess.Count(output, Fill(text)) == 1, $"'{Fill(text)}' is not printed exactly once:\n{output}");
        Assert.DoesNotContain("   at ", output);   // no stack frame
        Assert.DoesNotContain("Exception", output);
        Assert.DoesNotContain("(Parameter '", output);   // the option is named in the text, not as a .NET parameter
        if (expected != 0)
        {
            // The error line is the one naming the problem: one "error:" line per error.
            var errorLines = output.Split('\n').Where(l => l.StartsWith("error: ", StringComparison.Ordinal)).ToList();
            Assert.True(errorLines.Count == 1, $"{errorLines.Count} error lines:\n{output}");
            Assert.Contains(Fill(text), errorLines[0]);
        }
    }

    [Fact]
    public async Task AJobThatFailsPrintsItsMessageOnceAndExits2()
    {
        using var dir = new TestDirectory();
        // The tiny model with NaN weights (0xFF bytes in the middle of its tensors): the first loss is NaN, a deterministic failure.
        string model = dir["nan-model"];
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(tiny.ModelDirectory)) File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        using (var weights = File.Open(Path.Combine(model, "model.safetensors"), FileMode.Open, FileAccess.ReadWrite))
        {
            weights.Position = weights.Length * 2 / 3;
            weights.Write(Enumerable.Repeat((byte)0xFF, 65536).ToArray());
        }
        using var qst = QstProcess.Start(dir.Path, "train", "--local", "--plain", "--model", model, "--data", tiny.DataFile,
            "--state-dir", dir["state"], "--max-steps", "3");
        int code = await qst.WaitForExit(Limit);
        string output = qst.Output;
        Assert.True(code == 2, $"exit code {code}:\n{output}");
        Assert.True(QstProcess.Count(output, "loss is NaN") == 1, output);
        Assert.Contains("error: job local-", output);
        Assert.DoesNotContain("   at ", output);
    }
}
