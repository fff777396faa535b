using System.CommandLine;
using QstOrleans.Cli.Train;
using QstOrleans.Configuration;
using QstOrleans.Contracts.Wire;
using QstOrleans.Grains;
using QstOrleans.Grains.Jobs;
using QstOrleans.Model.Attention;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Engine;
using static TorchSharp.torch;

namespace QstOrleans.Tests.SideAttention;

/// <summary>
/// <c>precision.attention</c> as a config key (session 10): read from a config file and from <c>--attention</c>, refused
/// naming the file and the key when it names no kernel, carried into the engine's <see cref="Precision"/> by both the local
/// build (<see cref="ModelBuildOptions.From"/>) and the cluster's mapping (job spec → side trainer, stage spec → stages),
/// and reaching the layers: a model built from a fused config computes other logits than one built from an eager config,
/// while recompute's are eager's bitwise. Fused stages are not shared with recompute/eager jobs (their forward rounds
/// differently); recompute and eager jobs share stages (the same forward without a graph).
/// </summary>
public sealed class AttentionKernelConfigTests
{
    [Fact]
    public void TheKeyDefaultsToRecomputeAndAFileSelectsAnother()
    {
        Assert.Equal("recompute", TrainingConfig.Defaults.Precision.Attention);
        Assert.Equal(AttentionKernel.Recompute, ModelBuildOptions.From(TrainingConfig.Defaults).Precision.Attention);
        Assert.Equal(AttentionKernel.Recompute, new ModelBuildOptions().Precision.Attention);
        var fused = TrainingConfigFile.Parse("""{ "precision": { "attention": "fused" } }""", "cfg.json");
        Assert.Equal(TrainingConfig.Defaults.Precision with { Attention = "fused" }, fused.Precision);   // nothing else moved
        var build = ModelBuildOptions.From(fused);
        Assert.Equal(AttentionKernel.Fused, build.Precision.Attention);
        Assert.Equal(ScalarType.BFloat16, build.Precision.Compute);
        Assert.Equal(AttentionKernel.Eager, Precision.Parse("fp32", "EAGER").Attention);
        Assert.Equal(ScalarType.Float32, Precision.Parse("fp32", "EAGER").Compute);
    }

    [Theory]
    [InlineData("\"flash\"")]
    [InlineData("\"\"")]
    [InlineData("3")]
    public void AnUnknownKernelIsRefusedNamingTheFileAndTheKey(string value)
    {
        var e = Assert.Throws<ArgumentException>(() => TrainingConfigFile.Parse($$"""{ "precision": { "attention": {{value}} } }""", "cfg.json"));
        Assert.Contains("cfg.json", e.Message);
        Assert.Contains("precision.attention", e.Message);
    }

    [Fact]
    public void TheRefusalListsTheKernels()
    {
        var e = Assert.Throws<ArgumentException>(() => TrainingConfigFile.Parse("""{ "precision": { "attention": "flash" } }""", "cfg.json"));
        Assert.Contains("recompute, fused, eager", e.Message);
        Assert.Contains("'flash'", e.Message);
    }

    [Fact]
    public void TheOptionOverridesTheFileAndAbsentKeepsIt()
    {
        Assert.Equal("--attention", TrainingConfigKeys.Option("precision.attention"));
        Assert.Equal(typeof(string), TrainingConfigKeys.TypeOf("precision.attention"));
        var options = new TrainingOptions("", _ => true);
        var command = new Command("x");
        options.AddTo(command);
        Assert.Equal("eager", options.Resolve(command.Parse(["--attention", "eager"])).Precision.Attention);
        Assert.Equal("recompute", options.Resolve(command.Parse([])).Precision.Attention);
        using var dir = new TestDirectory();
        string path = dir.Write("fused.json", """{ "precision": { "attention": "fused" } }""");
        Assert.Equal("fused", options.Resolve(command.Parse(["--config", path])).Precision.Attention);
        Assert.Equal("recompute", options.Resolve(command.Parse(["--config", path, "--attention", "recompute"])).Precision.Attention);
    }

    [Fact]
    public void TheClusterMappingCarriesTheKernelToSideTrainerAndStages()
    {
        var job = new JobSpec { ModelDirectory = "/m", DataFile = "/d.jsonl" };
        var fusedJob = job with { Config = job.Config with { Precision = job.Config.Precision with { Attention = "fused" } } };
        var eagerJob = job with { Config = job.Config with { Precision = job.Config.Precision with { Attention = "eager" } } };
        Assert.Equal(AttentionKernel.Recompute, SpecMapping.Backbone(job).Compute.Attention);
        Assert.Equal(AttentionKernel.Fused, SpecMapping.Backbone(fusedJob).Compute.Attention);     // the side trainer's precision
        Assert.Equal(AttentionKernel.Fused, SpecMapping.Backbone(new StageSpec("/m", 0, 2, "nf4", true, "bf16", "fused")).Compute.Attention);
        Assert.Equal(AttentionKernel.Recompute, SpecMapping.Backbone(new StageSpec("/m", 0, 2, "nf4", true, "bf16")).Compute.Attention);
        // Stage sharing: fused gets stages of its own; eager and recompute run one forward without a graph and share.
        Assert.NotEqual(JobPlan.ModelKey(job), JobPlan.ModelKey(fusedJob));
        Assert.Equal(JobPlan.ModelKey(job), JobPlan.ModelKey(eagerJob));
        // The kernel is part of what decides the trained weights (a checkpoint resumes only under the same one).
        Assert.NotEqual(JobSpecHash.OfTraining(job), JobSpecHash.OfTraining(fusedJob));
    }

    [Fact]
    public void AModelBuiltFromTheConfigRunsItsKernel()
    {
        float[] LogitsFor(string kernel)
        {
            var config = TrainingConfig.Defaults with
            {
                Precision = TrainingConfig.Defaults.Precision with { Dtype = "fp32", Attention = kernel },
                Schedule = TrainingConfig.Defaults.Schedule with { Seed = 3 },
            };
            var options = ModelBuildOptions.From(config) with { Qst = TinyLlama.Qst };
            using var model = ModelBuilder.Build(TinyLlama.TrainingDirectory, TinyLlama.Config, options);
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var ids = tensor(Enumerable.Range(0, 2 * 9).Select(i => (long)(3 + i * 5 % (TinyLlama.Config.VocabSize - 4))).ToArray()).view(2, 9);
            var mask = tensor(Enumerable.Range(0, 2 * 9).Select(i => i >= 9 + 7 ? 0L : 1L).ToArray()).view(2, 9);   // row 1 right-padded by 2
            return model.Logits(ids, mask).to(ScalarType.Float32).data<float>().ToArray();
        }
        var eager = LogitsFor("eager");
        var recompute = LogitsFor("recompute");
        var fused = LogitsFor("fused");
        Assert.Equal(eager, recompute);                                                       // the eager core itself
        Assert.NotEqual(eager, fused);                                                        // another kernel ran
        double worst = eager.Zip(fused, (a, b) => Math.Abs(a - b)).Max();
        double scale = eager.Max(Math.Abs);
        Assert.InRange(worst, 0, scale * 1e-5);                                               // … computing the same attention
    }
}
