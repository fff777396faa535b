using System.Text.Json;
using QstOrleans.Cli.Bench.Compare;
using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Metrics;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Engine;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Benchmarks;

/// <summary>
/// The per-step phase split (session 10): the single-process trainer reports, per optimizer step, QST's frozen-backbone
/// time, the forward with loss, backward and the optimizer, adding up to the step's wall time (the one tokens/s is taken
/// over); the baselines have no separate backbone. The benchmark keeps each phase's median and the paper's paragraph turns
/// QST's backbone time into the measured ceiling (the baseline's step ÷ QST's backbone forward).
/// </summary>
public sealed class StepPhasesTests
{
    const int B = 2, T = 16, Accumulation = 2, Steps = 3;

    static MicroBatch Batch(int seed)
    {
        var ids = Enumerable.Range(0, B * T).Select(i => (long)(3 + (i * 7 + seed * 13) % 90)).ToArray();
        return new MicroBatch(ids, (long[])ids.Clone(), Enumerable.Repeat(1L, B * T).ToArray(), B, T);
    }

    [Theory]
    [InlineData(TrainingMethod.Qst, false)]
    [InlineData(TrainingMethod.QLora, true)]
    public void EachStepsPhasesAddUpToItsWallTime(TrainingMethod method, bool checkpointing)
    {
        using var scope = NewDisposeScope();
        using var model = ModelBuilder.Build(TinyLlama.TrainingDirectory, TinyLlama.Config,
            new ModelBuildOptions(method, TinyLlama.Qst, Precision.Float32, Seed: 1, GradientCheckpointing: checkpointing));
        var batches = Enumerable.Range(0, Accumulation * Steps).Select(Batch).ToList();
        var trainer = new LocalTrainer(model, new OptimizerConfig { LearningRate = 1e-3 },
            new TrainerConfig(Epochs: 1, MaxSteps: Steps, MicroBatchSize: B, GradientAccumulation: Accumulation, Threads: 2, Seed: 0));
        var reports = trainer.Train(_ => batches, Steps).ToList();
        Assert.Equal(Steps, reports.Count);
        foreach (var r in reports)
        {
            var p = Assert.IsType<StepPhases>(r.Phases);
            double wall = (double)Accumulation * B * T / r.TokensPerSecond;               // the clock tokens/s is taken over
            Assert.Equal(wall, p.TotalSeconds, wall * 1e-9);
            Assert.True(p.ForwardSeconds > 0 && p.BackwardSeconds > 0 && p.OptimizerSeconds > 0, $"step {r.Step}: {p}");
            if (method == TrainingMethod.Qst) Assert.True(p.BackboneSeconds > 0, $"step {r.Step}: {p}");
            else Assert.Equal(0, p.BackboneSeconds);                                    // a baseline's backbone is its forward
        }
        // The per-step backbone times are the model's own running total, split at step boundaries.
        if (model is QstModel qst) Assert.Equal(qst.BackboneSeconds, reports.Sum(r => r.Phases!.BackboneSeconds), 1e-9);
    }

    [Fact]
    public void TheMedianIsTakenPhaseByPhase()
    {
        var steps = new StepPhases?[] { new(1, 10, 100, 5), new(3, 30, 300, 1), null, new(2, 20, 200, 9) };
        Assert.Equal(new StepPhases(2, 20, 200, 5), StepPhases.Median(steps));
        Assert.Equal(new StepPhases(2, 20, 200, 3), StepPhases.Median(steps.Take(2)));   // even count: the mean of the middle two
        Assert.Null(StepPhases.Median([null, null]));
    }

    [Fact]
    public void ThePapersParagraphStatesTheMeasuredCeiling()
    {
        // Shape 4 × 128 = 512 tokens. QST 300 tok/s → 1.707 s per step, 1.000 s of it the backbone; qlora+gc 100 tok/s → 5.12 s.
        var qst = CompareSideHeadsTests.Rec("qst", false, 0, 300, 100) with { Phases = new StepPhases(1.0, 0.4, 0.25, 0.05) };
        var paper = CompareSideHeadsTests.Rec("qlora", true, 0, 100, 250) with { Phases = new StepPhases(0, 1.5, 3.5, 0.1) };
        string paragraph = ComparePaperRow.Paragraph([qst, paper]);
        Assert.Contains("QST 1.707 s = frozen backbone 1.000 s + side network, LM head and loss 0.400 s + backward 0.250 s + optimizer 0.050 s", paragraph);
        Assert.Contains("`qlora+gc` 5.120 s (forward 1.500 s, backward with recompute 3.500 s)", paragraph);
        Assert.Contains("at 5.12× `qlora+gc`'s speed (the measured ceiling)", paragraph);
        Assert.Contains("the 41 % of its step outside the backbone", paragraph);                     // 1 − 1.000 / 1.707
        // With each record's fastest step: 330 ÷ 120 = 2.75× beside the medians' 3.00×.
        string withMax = ComparePaperRow.Paragraph([qst with { TokensPerSecondMax = 330 }, paper with { TokensPerSecondMax = 120 }]);
        Assert.Contains("the fastest steps are the least disturbed): 2.75×.", withMax);
        Assert.DoesNotContain("Fastest step against fastest step", paragraph);                       // no maxima recorded
        // Records without a phase split (before session 10) say nothing about it.
        Assert.DoesNotContain("measured ceiling", ComparePaperRow.Paragraph([qst with { Phases = null }, paper]));
    }

    [Fact]
    public void RecordsCarryThePhasesAndOldRecordsReadWithout()
    {
        var run = CompareSideHeadsTests.Rec("qst", false, 0, 300, 100) with { Phases = new StepPhases(1.0, 0.4, 0.25, 0.05) };
        string json = BenchJson.Serialize(new BenchResults { Command = "c", Machine = "m", Comparisons = [run] });
        using (var doc = JsonDocument.Parse(json))
        {
            var phases = doc.RootElement.GetProperty("comparisons")[0].GetProperty("phases");
            Assert.Equal(1.0, phases.GetProperty("backboneSeconds").GetDouble());
            Assert.Equal(0.05, phases.GetProperty("optimizerSeconds").GetDouble());
        }
        Assert.Equal(run.Phases, BenchJson.Deserialize<BenchResults>(json).Comparisons[0].Phases);
        var old = BenchJson.Deserialize<BenchResults>(BenchJson.Serialize(new BenchResults { Command = "c", Machine = "m", Comparisons = [run with { Phases = null }] }));
        Assert.Null(old.Comparisons[0].Phases);
    }
}
