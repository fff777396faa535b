using System.Net;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Operations;

/// <summary>
/// The meters beyond steps and loss, scraped from both silos' <c>/metrics</c> around a two-stage run with a checkpoint:
/// checkpoint duration and size (against the job's checkpoint listing), stage queue depth (within the configured
/// capacity), NF4 dequantization time (it moves), and GPU memory (absent: the fixture's slots are <c>cpu:0</c>).
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class EngineMetricsTests(ProcessClusterFixture cluster, ITestOutputHelper log)
{
    const int Steps = 4;
    const int StageQueueCapacity = 2;   // Qst:StageQueueCapacity's default (the fixture does not set it)

    async Task<string> ScrapeAll() =>
        string.Join("\n", await Task.WhenAll(cluster.HttpPorts.Values.Select(async port =>
        {
            var (status, body) = await SiloHttp.Get(port, "metrics");
            Assert.Equal(HttpStatusCode.OK, status);
            return body;
        })));

    [Fact]
    public async Task CheckpointQueueDequantAndGpuMetersAreScraped()
    {
        string job = $"engine-{Guid.NewGuid():N}"[..16];
        string jobLabel = $"job=\"{job}\"";
        double dequantCallsBefore = PrometheusText.Sum(await ScrapeAll(), "qst_nf4_dequant_calls_total");

        using var train = cluster.StartQst("qst train",
            [.. SoloRun.TrainArgs(cluster.ModelDirectory, cluster.DataFile, seed: 9, Steps, stages: 2), "--job-id", job, "--checkpoint-every", "2"]);
        var depths = new List<double>();
        while (!train.HasExited)
        {
            depths.AddRange(PrometheusText.Values(await ScrapeAll(), "qst_worker_queue_depth", "role=\"stage\""));
            await Task.Delay(100);
        }
        Assert.True(await train.WaitForExit(TimeSpan.FromSeconds(90)) == 0, train.Output);
        string metrics = await ScrapeAll();
        await using var client = await cluster.ConnectAsync();
        var checkpoints = await client.CheckpointsAsync(job);
        log.WriteLine($"checkpoints {string.Join(", ", checkpoints.Select(c => $"{c.Step} ({c.Bytes} B)"))}; stage queue depths seen: {string.Join(", ", depths.Distinct().Order())}");

        // Checkpoints: one save and one upload timed per committed checkpoint; the size is the latest one's, as listed by the job.
        Assert.NotEmpty(checkpoints);
        Assert.Equal(checkpoints.Count, PrometheusText.Sum(metrics, "qst_checkpoint_duration_seconds_count", jobLabel, "phase=\"save\""));
        Assert.Equal(checkpoints.Count, PrometheusText.Sum(metrics, "qst_checkpoint_duration_seconds_count", jobLabel, "phase=\"upload\""));
        Assert.True(PrometheusText.Sum(metrics, "qst_checkpoint_duration_seconds_sum", jobLabel) > 0);
        Assert.Equal(checkpoints[^1].Bytes, Assert.Single(PrometheusText.Values(metrics, "qst_checkpoint_bytes", jobLabel)));
        Assert.Equal(checkpoints.Sum(c => c.Bytes), PrometheusText.Sum(metrics, "qst_checkpoint_written_bytes_total", jobLabel));

        // Stage queue depth: a series per live stage worker, never beyond the bounded queue's capacity.
        Assert.NotEmpty(depths);
        Assert.All(depths, d => Assert.InRange(d, 0, StageQueueCapacity));

        // NF4 dequantization: the stages' forward passes decode weights on both silos.
        foreach (var port in cluster.HttpPorts.Values)
        {
            var (_, own) = await SiloHttp.Get(port, "metrics");
            Assert.True(PrometheusText.Sum(own, "qst_nf4_dequant_seconds_total") > 0, own);
        }
        // Counted since the silo started, not necessarily during this job: stages are shared by every job on the same model and
        // split, and a slot with room keeps its layers dequantized (Nf4CachePolicy), so an earlier job on this cluster may have
        // done all the decoding already.
        Assert.True(PrometheusText.Sum(metrics, "qst_nf4_dequant_calls_total") >= Math.Max(1, dequantCallsBefore), "qst_nf4_dequant_calls_total never moved");

        // GPU memory: only for cuda:N slots (read from the driver); these silos have cpu slots only.
        Assert.Empty(PrometheusText.Values(metrics, "qst_gpu_memory_used_bytes"));
        Assert.Empty(PrometheusText.Values(metrics, "qst_gpu_memory_total_bytes"));
    }
}
