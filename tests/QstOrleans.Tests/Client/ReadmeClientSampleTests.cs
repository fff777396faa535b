using System.Text.RegularExpressions;
using QstOrleans.Client;

namespace QstOrleans.Tests.Client;

/// <summary>
/// The README's "Writing a client" sample is <see cref="TrainAsync"/> below, verbatim: one test checks the README quotes
/// it exactly, another runs it against a real silo (connecting through its gateway like an app would).
/// </summary>
[Collection(LocalSiloCollection.Name)]
public sealed partial class ReadmeClientSampleTests(LocalSiloFixture silo)
{
    // <writing-a-client>
    static async Task<JobState> TrainAsync(QstClientOptions options, JobSpec spec, string jobId)
    {
        await using var client = await QstClient.ConnectAsync(options);
        var submission = await client.SubmitAsync(jobId, spec);   // Started, Rejected, AlreadySubmitted, AlreadyFinished
        if (submission.Outcome == SubmitOutcome.Rejected) throw new ArgumentException(submission.Progress.Message);
        var state = submission.Progress.State;
        await foreach (var e in client.WatchAsync(jobId))   // pushed by the cluster, ends when the job does
        {
            switch (e)
            {
                case JobStepCompleted s: Console.WriteLine($"step {s.Step}/{s.TotalSteps} loss {s.Loss:F4} lr {s.LearningRate:G3}"); break;
                case JobRecovered r: Console.WriteLine($"recovered ({r.Recovery.Reason}) at step {r.Recovery.ResumedFromStep}"); break;
                case JobStateChanged c: state = c.State; Console.WriteLine($"{c.State}: {c.Message}"); break;
            }
        }
        return state;
    }
    // </writing-a-client>

    [Fact]
    public async Task TheSampleTrainsAJobToTheEnd()
    {
        var spec = new JobSpec { ModelDirectory = silo.ModelDirectory, DataFile = silo.DataFile, MaxSteps = 2, MicroBatchSize = 4, Stages = 1 };
        Assert.Equal(JobState.Completed, await TrainAsync(silo.Options, spec, "readme-sample"));
    }

    [Fact]
    public void TheReadmeQuotesTheSampleVerbatim()
    {
        string root = EndToEnd.RepoPaths.Root;
        string source = File.ReadAllText(Path.Combine(root, "tests", "QstOrleans.Tests", "Client", "ReadmeClientSampleTests.cs"));
        var lines = SampleRegion().Match(source).Groups[1].Value.TrimEnd().Split('\n');
        int indent = lines.Where(l => l.Trim().Length > 0).Min(l => l.Length - l.TrimStart().Length);
        string sample = string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..] : l.TrimStart()));

        string readme = File.ReadAllText(Path.Combine(root, "README.md")).Replace("\r\n", "\n");
        var section = ReadmeSection().Match(readme);
        Assert.True(section.Success, "README.md has no \"## Writing a client\" section with a ```csharp block");
        Assert.Equal(sample, section.Groups[1].Value.TrimEnd());
    }

    [GeneratedRegex(@"// <writing-a-client>\n(.*?)// </writing-a-client>", RegexOptions.Singleline)]
    private static partial Regex SampleRegion();

    [GeneratedRegex(@"## Writing a client\n.*?```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex ReadmeSection();
}
