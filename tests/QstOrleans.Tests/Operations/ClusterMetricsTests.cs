using System.Net;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Operations;

/// <summary>
/// <c>/metrics</c> of the two silo processes, scraped while a job runs through them: the qst_* counters move, and at the
/// end they agree with what the job grain reports through the client (steps, last loss, lr) and with the placement
/// (one stage worker per silo, one side trainer).
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class ClusterMetricsTests(ProcessClusterFixture cluster, ITestOutputHelper log)
{
    const int Steps = 4;

    async Task<string> ScrapeAll() =>
        string.Join("\n", await Task.WhenAll(cluster.HttpPorts.Values.Select(async port =>
        {
            var (status, body) = await SiloHttp.Get(port, "metrics");
            Assert.Equal(HttpStatusCode.OK, status);
            return body;
        })));

    [Fact]
    public async Task CountersMoveDuringARunAndMatchTheJobAtItsEnd()
    {
        string job = $"metrics-{Guid.NewGuid():N}"[..16];
        string jobLabel = $"job=\"{job}\"";
        foreach (var port in cluster.HttpPorts.Values)
            Assert.Equal(HttpStatusCode.OK, (await SiloHttp.Get(port, "readyz")).Status);
        double tokensBefore = PrometheusText.Sum(await ScrapeAll(), "qst_tokens_total");

        using var train = cluster.StartQst("qst train", [.. SoloRun.TrainArgs(cluster.ModelDirectory, cluster.DataFile, seed: 5, Steps, stages: 2), "--job-id", job]);
        // Scrape while it runs: the step counter is seen at each value it passes through, never going back.
        var seen = new List<double>();
        while (!train.HasExited)
        {
            double steps = PrometheusText.Sum(await ScrapeAll(), "qst_steps_total", jobLabel);
            if (seen.Count == 0 || steps != seen[^1]) seen.Add(steps);
            await Task.Delay(100);
        }
        Assert.True(await train.WaitForExit(TimeSpan.FromSeconds(90)) == 0, train.Output);
        log.WriteLine($"qst_steps_total seen during the run: {string.Join(", ", seen)}");
        Assert.Equal(seen.Order(), seen);

        string metrics = await ScrapeAll();
        await using var client = await cluster.ConnectAsync();
        var progress = await client.StatusAsync(job);
        Assert.Equal(Steps, progress.Step);
        Assert.Equal(Steps, PrometheusText.Sum(metrics, "qst_steps_total", jobLabel));
        Assert.Equal(Steps, Assert.Single(PrometheusText.Values(metrics, "qst_step", jobLabel)));
        double loss = Assert.Single(PrometheusText.Values(metrics, "qst_loss", jobLabel));
        Assert.Equal(progress.Losses[^1], loss, 1e-6);
        Assert.Equal(1e-2, Assert.Single(PrometheusText.Values(metrics, "qst_learning_rate", jobLabel)), 1e-12);   // --lr 1e-2, constant
        Assert.True(PrometheusText.Sum(metrics, "qst_tokens_total") > tokensBefore, "qst_tokens_total did not move");
        Assert.Equal(Steps, PrometheusText.Sum(metrics, "qst_micro_batches_total", jobLabel));   // grad-accum 1

        // Pipeline workers: one stage per silo (each with micro-batches and bytes sent), the side trainer of this job.
        foreach (var (name, port) in cluster.HttpPorts)
        {
            var (_, own) = await SiloHttp.Get(port, "metrics");
            Assert.True(PrometheusText.Sum(own, "qst_worker_micro_batches_total", "role=\"stage\"", $"silo=\"{name}\"") >= Steps, $"{name}:\n{own}");
            Assert.True(PrometheusText.Sum(own, "qst_worker_bytes_sent_total", "role=\"stage\"") > 0, $"{name}:\n{own}");
            foreach (var busy in PrometheusText.Values(own, "qst_worker_busy_fraction")) Assert.InRange(busy, 0, 1);
        }
        Assert.Equal(Steps, PrometheusText.Sum(metrics, "qst_worker_micro_batches_total", "role=\"side\"", $"worker=\"{job}\""));
    }
}
