using System.Text.Json;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;
using QstOrleans.Storage.Blobs;
using QstOrleans.Storage.Checkpoints;
using QstOrleans.Tests.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Checkpoints;

/// <summary>
/// Resume equivalence on CPU: 6 uninterrupted steps vs 3 steps, checkpoint (through the local checkpoint store),
/// fresh objects built with ANOTHER seed, restore, 3 more steps: losses and every side-network tensor bitwise
/// equal. Also the files' layout, the RNG round trip and the refusals (mid-accumulation save, another QST config).
/// </summary>
public sealed class TrainingCheckpointTests : IDisposable
{
    const int B = 2, T = 16, Accumulation = 2, TotalSteps = 6;
    readonly string _root = Directory.CreateTempSubdirectory("qst-trainckpt-").FullName;

    static readonly OptimizerConfig Optimizer = new()
    {
        // Cosine with warmup: the lr differs at every step, so a restored schedule position is actually tested.
        LearningRate = 1e-2, MaxGradNorm = 1.0, Schedule = LrScheduleKind.Cosine, WarmupSteps = 2, WeightDecay = 0.01,
    };

    /// <summary>Four different micro-batches (arithmetic progressions mod 90), cycled.</summary>
    static MicroBatch Batch(long sequence)
    {
        int k = (int)(sequence % 4);
        var ids = new long[B * T];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++)
                ids[b * T + t] = 3 + (b * 7 + k * 13 + t * (b + k + 2)) % 90;
        return new MicroBatch(ids, (long[])ids.Clone(), Enumerable.Repeat(1L, B * T).ToArray(), B, T);
    }

    static QstModel Build(int seed) => (QstModel)ModelBuilder.Build(TinyLlama.TrainingDirectory, TinyLlama.Config,
        new ModelBuildOptions(TrainingMethod.Qst, TinyLlama.Qst, Precision.BFloat16, Seed: seed));

    /// <summary>LocalTrainer's step: Accumulation micro-batches, each in its own dispose scope, then Apply.</summary>
    static float Step(QstModel model, OptimizerStepper stepper, ref long next)
    {
        float sum = 0;
        for (int k = 0; k < Accumulation; k++)
        {
            using var scope = NewDisposeScope();
            var (ids, labels, mask) = Batch(next++).ToTensors();
            var loss = CausalLmLoss.Compute(model.Logits(ids, mask), labels);
            sum += stepper.Accumulate(loss);
        }
        stepper.Apply();
        return sum / Accumulation;
    }

    [Fact]
    public async Task RestoreThenContinueIsBitwiseTheUninterruptedRun()
    {
        set_num_threads(2);
        // Uninterrupted reference.
        var expectedLosses = new List<float>();
        using var reference = Build(seed: 5);
        using (var stepper = new OptimizerStepper(reference.TrainableParameters, Optimizer, Accumulation, TotalSteps))
        {
            long next = 0;
            for (int s = 0; s < TotalSteps; s++) expectedLosses.Add(Step(reference, stepper, ref next));
        }

        // First half, then checkpoint through the store.
        var losses = new List<float>();
        var store = new CheckpointStore(new LocalDirectoryBlobStore(Path.Combine(_root, "blobs")), "jobs/j1");
        string staging = Path.Combine(_root, "staging");
        using (var first = Build(seed: 5))
        using (var stepper = new OptimizerStepper(first.TrainableParameters, Optimizer, Accumulation, TotalSteps))
        {
            long next = 0;
            for (int s = 0; s < 3; s++) losses.Add(Step(first, stepper, ref next));
            var written = TrainingCheckpoint.Save(staging, first.Side, stepper,
                new TrainingState { NextMicroBatch = next, Epoch = 0, IndexInEpoch = (int)next, Seed = 5, JobSpecHash = "spec-abc" });
            Assert.Equal(3, written.Step);
            await store.CommitAsync(written.Step, CheckpointPart.FromDirectory(staging));
        }

        // A fresh process: other seed (so every weight must come from the checkpoint), fresh stepper, restore.
        var loaded = await store.LoadLatestValidAsync(Path.Combine(_root, "restore"));
        Assert.NotNull(loaded);
        Assert.Equal(3, loaded.Step);
        Assert.Equal(TrainingCheckpoint.Files.Order(), loaded.Manifest.Blobs.Select(b => b.Name).Order());
        using var second = Build(seed: 99);
        using (var stepper = new OptimizerStepper(second.TrainableParameters, Optimizer, Accumulation, TotalSteps))
        {
            var state = TrainingCheckpoint.Restore(loaded.Directory, second.Side, stepper);
            Assert.Equal(3, stepper.Step);
            Assert.Equal("spec-abc", state.JobSpecHash);
            long next = state.NextMicroBatch;
            Assert.Equal(3 * Accumulation, next);
            for (int s = 3; s < TotalSteps; s++) losses.Add(Step(second, stepper, ref next));
            Assert.Equal(TotalSteps, stepper.Step);
        }

        Assert.Equal(expectedLosses, losses);
        var restored = SideNetworkExport.State(second.Side).ToDictionary(x => x.Name, x => x.Tensor);
        foreach (var (name, tensor) in SideNetworkExport.State(reference.Side))
        {
            using var a = tensor.detach().contiguous();
            using var b = restored[name].detach().contiguous();
            Assert.True(a.bytes.SequenceEqual(b.bytes), $"{name} differs from the uninterrupted run");
        }
    }

    [Fact]
    public void FilesAreStandardSafetensorsAndPlainJson()
    {
        using var scope = NewDisposeScope();
        using var model = Build(seed: 5);
        using var stepper = new OptimizerStepper(model.TrainableParameters, Optimizer, Accumulation, TotalSteps);
        long next = 0;
        Step(model, stepper, ref next);
        Step(model, stepper, ref next);
        string dir = Path.Combine(_root, "files");
        TrainingCheckpoint.Save(dir, model.Side, stepper, new TrainingState { NextMicroBatch = next, Epoch = 1, IndexInEpoch = 0, Seed = 5 });

        var trainable = model.Side.named_parameters().Where(p => p.parameter.requires_grad).ToList();
        using (var opt = SafeTensorsFile.Open(Path.Combine(dir, TrainingCheckpoint.OptimizerFile)))
        {
            Assert.Equal(3 * trainable.Count, opt.Tensors.Count);
            Assert.Equal("2", opt.Metadata["optimizer_step"]);
            foreach (var (name, p) in trainable)
            {
                Assert.Equal(p.shape, opt.Info($"{name}.exp_avg").Shape);
                Assert.Equal(2L, BitConverter.ToInt64(opt.ReadBytes($"{name}.step")));   // two AdamW updates so far
            }
            // After 2 steps from zero, the second moment is a weighted sum of squares: never negative, and non-zero somewhere.
            using var v = opt.ReadTensor($"{trainable[0].name}.exp_avg_sq");
            Assert.True(v.min().item<float>() >= 0 && v.max().item<float>() > 0);
        }
        using (var weights = SafeTensorsFile.Open(Path.Combine(dir, TrainingCheckpoint.WeightsFile)))
            Assert.Equal(SideNetworkExport.State(model.Side).Select(s => s.Name).Order(StringComparer.Ordinal), weights.Tensors.Keys.Order(StringComparer.Ordinal));
        using var json = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(dir, TrainingCheckpoint.StateFile)));
        Assert.Equal(2, json.RootElement.GetProperty("step").GetInt32());
        Assert.Equal(2, json.RootElement.GetProperty("lr_scheduler_step").GetInt32());
        Assert.Equal(4, json.RootElement.GetProperty("next_micro_batch").GetInt64());
        Assert.Equal(1, json.RootElement.GetProperty("epoch").GetInt32());
    }

    [Fact]
    public void GeneratorStateRoundTrips()
    {
        using var scope = NewDisposeScope();
        using var model = Build(seed: 5);
        using var stepper = new OptimizerStepper(model.TrainableParameters, Optimizer, Accumulation, TotalSteps);
        using var rng = new Generator(1234);
        using (var warm = rand([7], generator: rng)) { }
        string dir = Path.Combine(_root, "rng");
        TrainingCheckpoint.Save(dir, model.Side, stepper, new TrainingState(), rng);
        using var expected = rand([5], generator: rng);      // what the original draws next

        using var other = new Generator(999);
        TrainingCheckpoint.Restore(dir, model.Side, stepper, other);
        using var actual = rand([5], generator: other);
        Assert.Equal(TensorCheck.ToFloats(expected), TensorCheck.ToFloats(actual));
    }

    [Fact]
    public void RefusesMidAccumulationSavesAndAnotherConfig()
    {
        using var scope = NewDisposeScope();
        using var model = Build(seed: 5);
        using var stepper = new OptimizerStepper(model.TrainableParameters, Optimizer, Accumulation, TotalSteps);
        string dir = Path.Combine(_root, "refuse");
        TrainingCheckpoint.Save(dir, model.Side, stepper, new TrainingState());

        using (var inner = NewDisposeScope())
        {
            var (ids, labels, mask) = Batch(0).ToTensors();
            stepper.Accumulate(CausalLmLoss.Compute(model.Logits(ids, mask), labels));
        }
        var e = Assert.Throws<InvalidOperationException>(() => TrainingCheckpoint.Save(Path.Combine(_root, "mid"), model.Side, stepper, new TrainingState()));
        Assert.Contains("between optimizer steps", e.Message);

        // A side network of another width (r = 2): the first mismatching tensor is named with the file.
        using var wider = new QstSideNetwork(TinyLlama.Config, TinyLlama.Qst with { R = 2 }, Precision.BFloat16, seed: 5);
        using var widerStepper = new OptimizerStepper(wider.parameters().Where(p => p.requires_grad).ToList(), Optimizer, Accumulation, TotalSteps);
        var bad = Assert.Throws<SafeTensorsFormatException>(() => TrainingCheckpoint.Restore(dir, wider, widerStepper));
        Assert.Contains(TrainingCheckpoint.WeightsFile, bad.Message);
        Assert.Contains("but the network needs", bad.Message);
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
