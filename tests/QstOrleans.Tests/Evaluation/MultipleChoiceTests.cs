using QstOrleans.Data.Evaluation;
using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Evaluation;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Cli;
using QstOrleans.Tests.Engine;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Evaluation;

/// <summary>MMLU-style accuracy: prompt text, answer-letter tokens, last-position argmax over the letters.</summary>
[Collection(EvaluatedRunCollection.Name)]
public sealed class MultipleChoiceTests(EvaluatedRunFixture run)
{

    [Fact]
    public void PromptHasTheReferenceLayout()
    {
        var q = new MmluQuestion("What is 2+2?", ["3", "4", "5", "22"], 1, 1);
        Assert.Equal("What is 2+2?\nA. 3\nB. 4\nC. 5\nD. 22\nAnswer:", MmluPrompt.Format(q));
    }

    [Fact]
    public void LetterTokensAreFourDistinctTokensSpellingTheLetters()
    {
        var tokenizer = ModelTokenizer.Load(run.Tiny.ModelDirectory);
        var ids = MmluPrompt.LetterTokenIds(tokenizer);
        Assert.Equal(4, ids.Distinct().Count());
        Assert.Equal(["A", "B", "C", "D"], ids.Select(id => tokenizer.Decode([(int)id]).Trim()));
    }

    [Fact]
    public void AccuracyOfAHandMadeFileWithScriptedLetterLogits()
    {
        string file = run.Tiny.Scratch("four.jsonl");
        File.WriteAllLines(file,
        [
            """{"question": "Reverse the word cat.", "choices": ["tac", "cat", "act", "tca"], "answer": "A"}""",
            """{"question": "Uppercase the word dog.", "A": "dog", "B": "DOG", "C": "Dog", "D": "dOG", "answer": "B"}""",
            """{"question": "Add the numbers 3 4.", "choices": ["6", "8", "7", "5"], "answer": 2}""",
            """{"question": "Give the first letter of the word tree, please.", "choices": ["e", "r", "a", "t"], "answer": "d"}""",
        ]);
        var tokenizer = ModelTokenizer.Load(run.Tiny.ModelDirectory);
        var questions = MmluFile.Load(file);
        Assert.Equal([0, 1, 2, 3], questions.Select(q => q.Answer));
        var letters = MmluPrompt.LetterTokenIds(tokenizer);
        var prompts = questions.Select(q => MmluPrompt.Encode(tokenizer, q)).ToList();
        Assert.True(prompts.Select(p => p.Length).Distinct().Count() > 1, "prompts of different lengths exercise the padding");
        // Letter logits per question: argmax A (right), C (wrong: answer B), C (right), D (right) → 3/4.
        float[][] scripted = [[2.0f, 1.9f, -1f, 0f], [0.5f, 0.4f, 0.6f, -3f], [-2f, -2f, -1.5f, -2f], [0f, 0f, 0f, 0.01f]];
        var script = prompts.Select((p, i) => (ScriptedLetterModel.Key(p), scripted[i])).ToDictionary();
        using var model = new ScriptedLetterModel(tokenizer.VocabSize, letters, script);

        var items = prompts.Select((p, i) => new MultipleChoiceItem(p, questions[i].Answer)).ToList();
        var result = MultipleChoiceEvaluator.Evaluate(model, items, letters, microBatchSize: 3, padId: tokenizer.PadId);

        Assert.Equal([0, 2, 2, 3], result.Predictions);
        Assert.Equal(3, result.Correct);
        Assert.Equal(0.75, result.Accuracy);
    }

    [Fact]
    public void BatchedPredictionsEqualOneUnpaddedForwardPerPrompt()
    {
        using var scope = NewDisposeScope();
        using var model = ModelBuilder.Build(TinyLlama.Directory, TinyLlama.Config,
            new ModelBuildOptions(Qst: TinyLlama.Qst, Precision: Precision.Float32, Seed: 3));
        long[] letters = [10, 20, 30, 40];
        var prompts = new[] { 7, 3, 12, 5, 9 }.Select((n, i) => TinyLlama.Tokens(n, seed: 100 + i)).ToList();
        var items = prompts.Select(p => new MultipleChoiceItem(p, 0)).ToList();

        var batched = MultipleChoiceEvaluator.Evaluate(model, items, letters, microBatchSize: 4);

        var expected = new List<int>();
        using (no_grad())
        {
            foreach (var p in prompts)
            {
                using var logits = model.Logits(tensor(p, [1, p.Length]), ones(1, p.Length, dtype: ScalarType.Int64));   // [1, T, V]
                var last = TensorCheck.ToFloats(logits[0, p.Length - 1]);
                expected.Add(Enumerable.Range(0, 4).MaxBy(c => last[letters[c]]));
            }
        }
        Assert.Equal(expected, batched.Predictions);
        Assert.Equal(expected.Count(c => c == 0) / 5.0, batched.Accuracy);
    }
}
