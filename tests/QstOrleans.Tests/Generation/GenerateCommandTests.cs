using QstOrleans.Cli.Generate;
using QstOrleans.Cli.Train;
using QstOrleans.Data.Datasets;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Cli;

namespace QstOrleans.Tests.Generation;

/// <summary>
/// `qst generate` / `qst chat` on the CLI's tiny model: side weights written by `train-local --out` load; the
/// streamed text equals a one-shot decode of the generated ids; chat keeps the Alpaca template, /reset, /exit.
/// </summary>
public sealed class GenerateCommandTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void StreamsTheDecodedTextOfTrainedSideWeights()
    {
        string run = tiny.Scratch("gen-run");
        _ = TrainLocalCommand.Run(new TrainLocalSettings
        {
            Model = tiny.ModelDirectory, Data = tiny.DataFile, Method = TrainingMethod.Qst, Dtype = "fp32",
            Optimizer = new OptimizerConfig { LearningRate = 1e-2 },
            Trainer = new TrainerConfig(Epochs: 1, MaxSteps: 2, MicroBatchSize: 4, GradientAccumulation: 1, Threads: 2, Seed: 1),
            Output = run,
        }).ToList();
        var settings = new GenerateSettings
        {
            Model = tiny.ModelDirectory, Side = Path.Combine(run, "trainable.safetensors"), Prompt = "Write a poem about the sea",
            MaxNewTokens = 16, Dtype = "fp32",
        };
        var output = new StringWriter();
        var status = new StringWriter();
        var result = GenerateCommand.Run(settings, output, status);

        Assert.NotEmpty(result.Tokens);
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        Assert.Equal(tokenizer.Decode(result.Tokens) + Environment.NewLine, output.ToString());
        Assert.Contains("QST side network", status.ToString());
        Assert.Contains($"[{result.Tokens.Count} tokens, stop: {result.Reason}", status.ToString());
    }

    [Fact]
    public void IncrementalDecodingKeepsSentencePieceSpaces()
    {
        var tokenizer = ModelTokenizer.Load(tiny.ModelDirectory);
        var ids = tokenizer.Encode("the quick brown fox jumps over the lazy dog");
        var decoder = new IncrementalDecoder(tokenizer);
        string streamed = string.Concat(ids.Select(decoder.Push)) + decoder.Flush();
        Assert.Equal(tokenizer.Decode(ids), streamed);
        Assert.Equal("the quick brown fox jumps over the lazy dog", streamed);
    }

    [Fact]
    public void ChatKeepsTheConversationAndHonoursResetAndExit()
    {
        Assert.Equal(AlpacaPrompt.Format("Name a colour.", null), ChatCommand.Transcript([], "Name a colour."));
        Assert.Equal(AlpacaPrompt.Format("a", null) + "red\n\n### Instruction:\nb\n\n### Response: ",
            ChatCommand.Transcript([("a", "red")], "b"));

        var input = new StringReader("hello\n\n/reset\nwhat is two plus two\n/exit\nnever read\n");
        var output = new StringWriter();
        var replies = ChatCommand.Run(new GenerateSettings { Model = tiny.ModelDirectory, MaxNewTokens = 8, Dtype = "fp32" }, input, output);
        Assert.Equal(2, replies.Count);
        Assert.Contains("(conversation cleared)", output.ToString());
        Assert.All(replies, r => Assert.DoesNotContain("\n###", r));
    }
}
