using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using QstOrleans.Grains.Hosting;
using QstOrleans.Grains.Placement;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Tests.Distributed;

/// <summary>
/// The project's own errors reach the client with their real message and class across silos (no "Could not find a
/// codec"), and a job they end is recorded as failed by bad input (the CLI exits 2).
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class RemoteErrorTests(ClusterFixture cluster)
{
    [Fact]
    public async Task ACorruptSafetensorsFileOnAStageSiloReachesTheClientIntact()
    {
        string model = CopyModel("corrupt-weights");
        File.WriteAllBytes(Path.Combine(model, "model.safetensors"), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 1, 2, 3]);

        // Every silo holds a stage, so the error crosses from at least one other silo to the job grain.
        var job = await Rejected("corrupt-weights", Valid(model) with { Stages = ClusterFixture.Silos });
        Assert.Contains("model.safetensors", job.Message);

        // Straight from a stage grain to the client: the exception itself crosses, with its class.
        var slot = (await cluster.Grains.GetGrain<IClusterSlotsGrain>(0).List())[^1];
        var stage = cluster.Grains.GetGrain<IBackboneStageGrain>(new StageKey("corrupt-weights-direct", 0, 2, slot.Id).ToString());
        var e = await Assert.ThrowsAsync<QstErrorException>(() => stage.EnsureLoaded(new StageSpec(model, 0, 2, "nf4", true, "bf16")));
        Assert.Equal(ErrorKind.BadInput, e.Kind);
        Assert.Equal(nameof(SafeTensorsFormatException), e.ErrorType);
        Assert.Contains(Path.Combine(model, "model.safetensors"), e.Message);
    }

    [Fact]
    public async Task StageAndSideTrainerGrainsCalledDirectlyApplyTheInputGuard()
    {
        if (OperatingSystem.IsWindows()) return;
        // /dev holds devices: the guard refuses it as a model directory even on this unconfined cluster, before any grain reads it.
        var slot = (await cluster.Grains.GetGrain<IClusterSlotsGrain>(0).List())[0];
        var stage = cluster.Grains.GetGrain<IBackboneStageGrain>(new StageKey("side-door", 0, 1, slot.Id).ToString());
        var e = await Assert.ThrowsAsync<QstErrorException>(() => stage.EnsureLoaded(new StageSpec("/dev", 0, 1, "nf4", true, "bf16")));
        Assert.Equal(ErrorKind.BadInput, e.Kind);
        Assert.Contains("model directory (--model) '/dev' its entry", e.Message);
        Assert.Contains("is not a regular file", e.Message);

        var side = cluster.Grains.GetGrain<ISideTrainerGrain>("side-door");
        var s = await Assert.ThrowsAsync<QstErrorException>(() => side.Initialize(new SideSpec("side-door", Valid("/dev"), 2, 5, 24), attempt: 0));
        Assert.Contains("is not a regular file", s.Message);
    }

    [Fact]
    public async Task BadModelConfigsAndOutOfVocabularyIdsAreRejectedAsBadInput()
    {
        string model = CopyModel("negative-rope");
        string config = Path.Combine(model, "config.json");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"rope_theta\": 10000.0", "\"rope_theta\": -1").Replace("\"rope_theta\": 10000", "\"rope_theta\": -1"));
        Assert.Contains("-1", File.ReadAllText(config));
        var rope = await Rejected("negative-rope", Valid(model));
        Assert.Contains("field 'rope_theta' must be a positive number, got -1", rope.Message);

        string tokens = cluster.Scratch("out-of-vocab.jsonl");
        File.WriteAllLines(tokens, Enumerable.Range(0, 8).Select(i => i == 5 ? "{\"input_ids\": [1, 2, 99999]}" : "{\"input_ids\": [1, 2, 3, 4]}"));
        var vocab = await Rejected("out-of-vocab", Valid(cluster.ModelDirectory) with { DataFile = tokens, Format = "tokens" });
        Assert.Contains("out-of-vocab.jsonl: example 6: token id 99999 is outside the model's vocabulary (0..511)", vocab.Message);

        var missing = await Rejected("missing-model", Valid(cluster.Scratch("no-such-model")));
        Assert.Contains("no-such-model", missing.Message);
    }

    [Fact]
    public async Task UnsafeJobIdsAreRefusedAndNeverRegistered()
    {
        foreach (string id in new[] { "bad\nid", "../escape", new string('x', 101) })
        {
            var progress = await cluster.Grains.GetGrain<ITrainingJobGrain>(id).Start(Valid(cluster.ModelDirectory));
            Assert.Equal(JobState.Failed, progress.State);
            Assert.Equal(ErrorKind.BadInput, progress.Error);
            Assert.Contains("job id", progress.Message);
            Assert.DoesNotContain(id, await cluster.Grains.GetGrain<IJobRegistryGrain>(0).List());
        }
    }

    [Fact]
    public void EveryProjectErrorTypeSurvivesTheWireWithItsClass()
    {
        var serializer = cluster.Cluster.Client.ServiceProvider.GetRequiredService<Serializer>();
        (Exception Error, ErrorKind Kind)[] cases =
        [
            (new SafeTensorsFormatException("/m/model.safetensors", "x.weight", "truncated"), ErrorKind.BadInput),
            (new ModelWeightsException("/m", "lm_head.weight", "has shape [2]"), ErrorKind.BadInput),
            (new ModelConfigException("/m/config.json", "rope_theta", "must be positive"), ErrorKind.BadInput),
            (new CheckpointCorruptException(7, "step 7: blob 'side.safetensors' checksum differs"), ErrorKind.BadInput),
            (new CheckpointConflictException(7, "step 7 exists already"), ErrorKind.Transient),
            (new InvalidOperationException("wrapped", new ModelWeightsException("/m", "t", "bad")), ErrorKind.Transient),
        ];
        foreach (var (error, kind) in cases)
        {
            Assert.True(ErrorBoundaryFilter.NeedsTranslation(error), error.GetType().Name);
            var crossed = serializer.Deserialize<Exception>(serializer.SerializeToArray<Exception>(ErrorBoundaryFilter.Translate(error)));
            var remote = Assert.IsType<QstErrorException>(crossed);
            Assert.Equal(error.Message, remote.Message);
            Assert.Equal(kind, remote.Kind);
            Assert.Equal(error.GetType().Name, remote.ErrorType);
        }
        Assert.False(ErrorBoundaryFilter.NeedsTranslation(new ArgumentException("system types have codecs")));
    }

    async Task<JobProgress> Rejected(string id, JobSpec spec)
    {
        var progress = await cluster.Grains.GetGrain<ITrainingJobGrain>(id).Start(spec);
        Assert.Equal(JobState.Failed, progress.State);
        Assert.Equal(ErrorKind.BadInput, progress.Error);
        Assert.DoesNotContain("codec", progress.Message, StringComparison.OrdinalIgnoreCase);
        return progress;
    }

    string CopyModel(string name)
    {
        string dir = cluster.Scratch(name);
        Directory.CreateDirectory(dir);
        foreach (var file in Directory.GetFiles(cluster.ModelDirectory)) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)), overwrite: true);
        return dir;
    }

    JobSpec Valid(string model) => new()
    {
        ModelDirectory = model, DataFile = cluster.DataFile, MaxSteps = 2, MicroBatchSize = 4, Seed = 3, Stages = 1,
    };
}
