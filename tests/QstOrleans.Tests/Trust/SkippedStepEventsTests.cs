using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QstOrleans.Cli.Cluster;
using QstOrleans.Client;
using QstOrleans.Grains.Hosting;
using QstOrleans.Tests.Client;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Trust;

/// <summary>
/// <c>optimizer.non_finite = skip</c> on the cluster: each skipped step reaches the client's event stream as a step with
/// <see cref="JobStepCompleted.Skipped"/> set (and the status snapshot as <see cref="JobProgress.StepSkipped"/>), and
/// <c>qst train</c>'s plain output prints "step N skipped: …". A job on finite weights reports no skipped step.
/// </summary>
public sealed class SkippedStepEventsTests
{
    [Fact]
    public async Task SkippedStepsAreEventsAndPrintAsSkipped()
    {
        using var dir = new TestDirectory();
        InProcessSilo.WriteTinyInputs(dir["tiny"], dir["data.jsonl"]);
        string nan = HostileCliTests.NaNModelCopy(dir["tiny"], dir["nan"]);
        int gateway = Loopback.FreePort();
        string clusterId = $"skip-{Guid.NewGuid():N}"[..20];
        var silo = await InProcessSilo.StartAsync(new LocalSiloOptions
        {
            StateDirectory = dir["state"], Devices = ["cpu:0"], SiloPort = Loopback.FreePort(), GatewayPort = gateway, ClusterId = clusterId,
        }, logging => logging.SetMinimumLevel(LogLevel.Warning));
        try
        {
            await using var client = await QstClient.ConnectAsync(new QstClientOptions
            {
                GatewayPorts = [gateway], ClusterId = clusterId, ServiceId = LocalSiloHost.ServiceId, ConnectTimeout = TimeSpan.FromSeconds(60),
            });
            var nanSteps = await RunAsync(client, "nan-skip", Spec(nan, dir["data.jsonl"]));
            Assert.Equal([1, 2], nanSteps.Select(s => s.Step));
            // NaN norm weights: the loss itself is NaN, so that is the reason given.
            Assert.All(nanSteps, s => Assert.Equal("non-finite loss", s.Skipped));
            var status = await client.StatusAsync("nan-skip");
            Assert.Equal(JobState.Completed, status.State);
            Assert.Equal("non-finite loss", status.StepSkipped);
            Assert.StartsWith("step 2 skipped: non-finite loss", JobProgressView.StepLine(status));

            var fine = await RunAsync(client, "finite", Spec(dir["tiny"], dir["data.jsonl"]));
            Assert.Equal([1, 2], fine.Select(s => s.Step));
            Assert.All(fine, s => Assert.Null(s.Skipped));
            var applied = await client.StatusAsync("finite");
            Assert.Null(applied.StepSkipped);
            Assert.StartsWith("step     2/2  epoch", JobProgressView.StepLine(applied));
        }
        finally
        {
            await silo.StopAsync(TimeSpan.FromSeconds(10));
            silo.Dispose();
        }
    }

    static JobSpec Spec(string model, string data)
    {
        var spec = new JobSpec { ModelDirectory = model, DataFile = data, MaxSteps = 2, Epochs = 5, MicroBatchSize = 4, Seed = 3, Stages = 1, Window = 2 };
        return spec with { Config = spec.Config with { Optimizer = spec.Config.Optimizer with { NonFinite = "skip" } } };
    }

    static async Task<List<JobStepCompleted>> RunAsync(QstClient client, string id, JobSpec spec)
    {
        Assert.Equal(SubmitOutcome.Started, (await client.SubmitAsync(id, spec)).Outcome);
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        var steps = new List<JobStepCompleted>();
        await foreach (var e in client.WatchAsync(id, cancel: timeout.Token))
            if (e is JobStepCompleted step) steps.Add(step);
        return steps;
    }
}
