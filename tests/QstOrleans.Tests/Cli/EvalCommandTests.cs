using QstOrleans.Cli.Evaluate;
using QstOrleans.Cli.Train;
using QstOrleans.Configuration;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Recipe;
using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Cli;

/// <summary>
/// <c>qst eval</c> on the export of a <c>train-local --out</c> run reproduces the run's final evaluation (val-loss, val-ppl,
/// mmlu-acc), in-process and as the built CLI prints it; in fp32 the validation loss also matches a cross-entropy computed
/// here example by example from the exported model's logits.
/// </summary>
public sealed class EvalCommandTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    static readonly string[] Questions =
    [
        """{"question": "Reverse the word cat.", "choices": ["tac", "cat", "act", "tca"], "answer": "A"}""",
        """{"question": "Uppercase the word dog.", "choices": ["dog", "DOG", "Dog", "dOG"], "answer": "B"}""",
        """{"question": "Add the numbers 3 4.", "choices": ["6", "8", "7", "5"], "answer": "C"}""",
        """{"question": "Reverse the word sun.", "choices": ["uns", "snu", "nus", "sun"], "answer": "C"}""",
    ];

    [Theory]
    [InlineData("bf16")]
    [InlineData("fp32")]
    public async Task EvalOfATrainLocalExportGivesTheRunsFinalNumbers(string dtype)
    {
        using var dir = new TestDirectory();
        string val = dir["val.jsonl"], mmluFile = dir["mmlu.jsonl"], mmluFolder = dir["mmlu"], run = dir["run"];
        SyntheticDatasets.WriteAlpacaJsonl(val, 10, seed: 11);
        File.WriteAllLines(mmluFile, Questions);
        // The folder form of --mmlu: the same questions in two files, read in name order.
        Directory.CreateDirectory(mmluFolder);
        File.WriteAllLines(Path.Combine(mmluFolder, "a.jsonl"), Questions[..2]);
        File.WriteAllLines(Path.Combine(mmluFolder, "b.jsonl"), Questions[2..]);
        var reports = new List<StepReport>();
        var lines = TrainLocalCommand.Run(new TrainLocalSettings
        {
            Model = tiny.ModelDirectory, Data = tiny.DataFile, ValData = val, Mmlu = mmluFile, Output = run, Dtype = dtype,
            Optimizer = new OptimizerConfig { LearningRate = 1e-2, MaxGradNorm = 1.0 },
            Trainer = new TrainerConfig(Epochs: 1, MaxSteps: 3, MicroBatchSize: 4, Threads: 2, Seed: 5),
        }, reports).ToList();
        var final = reports[^1].Evaluation!;

        var result = EvalCommand.Run(new EvalSettings
        {
            Model = tiny.ModelDirectory, Side = run, Data = val, Mmlu = mmluFolder,
            Config = TrainingConfigFile.Load(Path.Combine(run, RunFolder.ConfigFile)),
        });
        Assert.Equal(final.ValidationLoss, result.Validation!.Loss);
        Assert.Equal(final.ValidationPerplexity, result.Validation.Perplexity);
        Assert.Equal(final.MultipleChoiceAccuracy, result.MultipleChoice!.Accuracy);
        Assert.Equal(Questions.Length, result.MultipleChoice.Total);

        // The CLI reads the run's training_config.json next to the export and prints what train-local printed.
        using var qst = QstProcess.Start(dir.Path, "eval", "--model", tiny.ModelDirectory, "--side", run, "--data", val, "--mmlu", mmluFolder);
        int code = await qst.WaitForExit(TimeSpan.FromMinutes(3));
        Assert.True(code == 0, $"exit code {code}:\n{qst.Output}");
        string printed = TrainLocalEvaluation.Format(final).Trim();   // "val-loss …  val-ppl …  mmlu-acc …"
        string valPart = printed[..printed.IndexOf("  mmlu-acc", StringComparison.Ordinal)];
        Assert.Contains(valPart, qst.Output);
        Assert.Contains(printed[(printed.IndexOf("mmlu-acc", StringComparison.Ordinal))..], qst.Output);
        Assert.Contains(lines, l => l.Contains(printed, StringComparison.Ordinal));

        if (dtype == "fp32") Assert.Equal(IndependentValidationLoss(run, val), result.Validation.Loss, 1e-5);
    }

    /// <summary>Σ −log softmax(logits)[next token] over the labelled positions of every example, one example at a time, in float64.</summary>
    double IndependentValidationLoss(string run, string val)
    {
        var config = TrainingConfigFile.Load(Path.Combine(run, RunFolder.ConfigFile));
        config = config with { Schedule = config.Schedule with { MicroBatchSize = 1 } };
        var sets = EvaluationSets.FromFiles(config, ModelTokenizer.Load(tiny.ModelDirectory), tiny.ModelDirectory, val, []);
        using var model = SideNetworkExport.LoadModel(run, tiny.ModelDirectory);
        double sum = 0;
        long count = 0;
        using var noGrad = no_grad();
        using var mode = QstOrleans.Model.Evaluation.EvaluationMode.Enter(model);
        foreach (var batch in sets.Validation!)
        {
            using var scope = NewDisposeScope();
            var (ids, labels, mask) = batch.ToTensors(model.Device);               // [1, T]
            var logProbs = model.Logits(ids, mask).to(ScalarType.Float64).log_softmax(-1);   // [1, T, V]
            int t = batch.SequenceLength;
            var next = labels.narrow(1, 1, t - 1);                                 // [1, T-1]: position t predicts token t+1
            var keep = next.ne(-100);
            var picked = logProbs.narrow(1, 0, t - 1).gather(-1, next.clamp_min(0).unsqueeze(-1)).squeeze(-1);   // [1, T-1]
            sum -= picked.masked_select(keep).sum().item<double>();
            count += keep.sum().item<long>();
        }
        return sum / count;
    }
}
