using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Recipe;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Engine;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.LeanTaps;

/// <summary>
/// The distributed lean-taps protocol run by hand in one process, against the single-process lean trainer: two "stages"
/// hold the W_A slices (<see cref="StageAdapters"/>), the backbone has run every micro-batch ahead (all taps exist up
/// front), and each micro-batch is projected only once its W_A version is there; a side network without W_A gradients
/// steps with the stages' squared norms. Every loss and every weight, W_A included, must equal the single-process run
/// bitwise (bf16 compute, fp32 master weights, clipping active), and a stage refuses taps whose adapter it does not hold.
/// </summary>
public sealed class StageAdaptersTests
{
    const int B = 2, T = 6, Accumulation = 2, Steps = 3;

    [Fact]
    public void StagesHoldingWAStepBitwiseLikeTheSingleProcessTrainer()
    {
        var c = TinyLlama.Config;   // N = 2 layers: taps 0, 1, 2; adapters 0, 1
        using var scope = NewDisposeScope();
        using var g = new Generator(17);
        int micro = Steps * Accumulation;
        var taps = Enumerable.Range(0, micro).Select(_ => Enumerable.Range(0, c.NumLayers + 1)
            .Select(_ => randn([B, T, c.HiddenSize], generator: g)).ToList()).ToList();      // the backbone ran ahead: [B, T, H] fp32
        var finals = Enumerable.Range(0, micro).Select(_ => randn([B, T, c.HiddenSize], generator: g)).ToList();
        var labels = Enumerable.Range(0, micro).Select(_ => randint(3, c.VocabSize, [B, T], generator: g)).ToList();
        using var head = new FrozenLmHead((randn([c.VocabSize, c.HiddenSize], generator: g) * 0.3).to(ScalarType.BFloat16), Precision.BFloat16);
        using var mask = ones(B, T, dtype: ScalarType.Int64);
        using var context = AttentionContext.Create(mask);
        var config = new OptimizerConfig { LearningRate = 5e-2, MaxGradNorm = 0.05, WeightDecay = 0.01 };   // small max norm: clipping acts

        // Single process, lean form.
        using var single = new QstSideNetwork(c, TinyLlama.Qst, Precision.BFloat16, seed: 9);
        using var singleStepper = new OptimizerStepper(Trainable(single), config, Accumulation, Steps);
        var singleStep = new SideMicroStep(single, head, new TrainingStep(singleStepper));
        var singleLosses = new List<float>();
        for (int s = 0; s < micro; s++)
        {
            using var microScope = NewDisposeScope();
            singleStep.AccumulateLean(taps[s], finals[s], context, labels[s]);
            if (singleStep.ApplyIfDue() is { } r) singleLosses.Add(r.Loss);
        }

        // "Distributed": stage 0 holds adapter 0 (taps 0 and 1), stage 1 holds adapter 1 (tap 2).
        using var side = new QstSideNetwork(c, TinyLlama.Qst, Precision.BFloat16, seed: 9);
        var sideParameters = Trainable(side);
        using var sideStepper = new OptimizerStepper(sideParameters, config, Accumulation, Steps);
        var sideStep = new SideMicroStep(side, head, new TrainingStep(sideStepper));
        var names = side.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        var projectionIndex = Enumerable.Range(0, c.NumLayers).Select(i => names.IndexOf(QstSideNetwork.ProjectionName(i))).ToArray();
        using var stage0 = Stage(side, sideStepper, projectionIndex, adapter: 0, config);
        using var stage1 = Stage(side, sideStepper, projectionIndex, adapter: 1, config);
        StageAdapters StageOf(int tap) => AdapterProjection.AdapterOfTap(tap) == 0 ? stage0 : stage1;

        var distributedLosses = new List<float>();
        var waiting = new Queue<int>(Enumerable.Range(0, micro));
        while (waiting.Count > 0)
        {
            int s = waiting.Dequeue();
            // Version handling: micro-batch s reads W_A version s / Accumulation; both stages must be there.
            Assert.Equal(s / Accumulation, stage0.Version);
            Assert.Equal(s / Accumulation, stage1.Version);
            using var microScope = NewDisposeScope();
            var projected = taps[s].Select((x, t) => StageOf(t).Project(t, x.to(ScalarType.BFloat16))).ToList();   // [B, T, p], W_A's graph kept
            var wire = projected.Select(u => u.detach().clone()).ToList();                                      // what crosses
            var (_, gradients) = sideStep.AccumulateProjected(wire, finals[s].to(ScalarType.BFloat16), context, labels[s]);
            for (int t = 0; t < projected.Count; t++) AdapterProjection.Backward(projected[t], gradients[t].clone());
            if ((s + 1) % Accumulation != 0) continue;
            var norms = stage0.SquaredGradNorms().Concat(stage1.SquaredGradNorms()).ToArray();
            var result = sideStep.ApplyIfDue(projectionIndex.Select((index, adapter) => (index, adapter)).ToDictionary(p => p.index, p => norms[p.adapter]))!;
            distributedLosses.Add(result.Loss);
            stage0.Apply(result.LearningRate, result.ClipCoefficient);
            stage1.Apply(result.LearningRate, result.ClipCoefficient);
            Assert.True(result.ClipCoefficient < 1f, "the test means to exercise clipping");
        }

        Assert.Equal(singleLosses, distributedLosses);
        var singleWeights = single.named_parameters().Where(p => p.parameter.requires_grad).ToDictionary(p => p.name, p => p.parameter);
        for (int i = 0; i < names.Count; i++)
        {
            var expected = singleWeights[names[i]];
            int adapter = Array.IndexOf(projectionIndex, i);
            Tensor actual = adapter < 0 ? sideParameters[i] : (adapter == 0 ? stage0 : stage1).Export().Single(x => x.Adapter == adapter).Weight;
            Assert.True(expected.bytes.SequenceEqual(actual.bytes), $"{names[i]} differs from the single-process run");
        }
    }

    [Fact]
    public void HoldsOnlyItsAdaptersAndCountsVersions()
    {
        var c = TinyLlama.Config;
        using var scope = NewDisposeScope();
        using var side = new QstSideNetwork(c, TinyLlama.Qst, Precision.BFloat16, seed: 1);
        using var stepper = new OptimizerStepper(Trainable(side), new OptimizerConfig(), 1, 1);
        using var stage = new StageAdapters([Slice(side, stepper, 0, 0)], 0.9, 0.999, 1e-8, 0, ScalarType.BFloat16, version: 3, CPU);
        Assert.Equal(3, stage.Version);
        Assert.Throws<ArgumentException>(() => stage.Project(2, zeros(1, 1, c.HiddenSize)));   // tap 2 reads adapter 1: not held
        stage.Apply(1e-3, 1f);
        Assert.Equal(4, stage.Version);
    }

    static List<TorchSharp.Modules.Parameter> Trainable(QstSideNetwork side) => side.parameters().Where(p => p.requires_grad).ToList();

    static StageAdapters Stage(QstSideNetwork side, OptimizerStepper stepper, int[] projectionIndex, int adapter, OptimizerConfig config) =>
        new([Slice(side, stepper, adapter, projectionIndex[adapter])], config.Beta1, config.Beta2, config.Epsilon, config.WeightDecay,
            ScalarType.BFloat16, version: 0, CPU);

    static StageAdapters.Slice Slice(QstSideNetwork side, OptimizerStepper stepper, int adapter, int index)
    {
        var state = stepper.States[index];
        return new StageAdapters.Slice(adapter, side.Adapter(adapter).Projection.Weight.detach().clone(), state.ExpAvg.clone(), state.ExpAvgSq.clone(), state.Step);
    }
}
