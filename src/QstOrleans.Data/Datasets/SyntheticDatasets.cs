using System.Text;
using System.Text.Json;

namespace QstOrleans.Data.Datasets;

/// <summary>
/// A learnable synthetic Alpaca dataset for the tiny test model: short deterministic word and digit tasks over a
/// 24-word list, so a few-hundred-step run shows the loss falling well below its start.
/// </summary>
/// <remarks>
/// Tasks (chosen uniformly): reverse a word ("cat" → "tac"), uppercase it ("dog" → "DOG"), add two digits
/// ("3 4" → "7"), repeat a word twice ("sun" → "sun sun"), first letter ("tree" → "t").
/// Randomness: <see cref="SplitMix64"/> seeded with <c>seed</c>, so output depends only on (count, seed).
/// Throws <see cref="ArgumentOutOfRangeException"/> for a negative count.
/// </remarks>
public static class SyntheticDatasets
{
    public static readonly IReadOnlyList<string> Words =
    [
        "cat", "dog", "sun", "tree", "fish", "bird", "book", "milk", "star", "moon", "rain", "frog",
        "lamp", "door", "king", "ship", "cake", "rose", "wolf", "bear", "coin", "leaf", "ring", "hat",
    ];

    public const string ReverseInstruction = "Reverse the word.";
    public const string UppercaseInstruction = "Uppercase the word.";
    public const string AddInstruction = "Add the numbers.";
    public const string RepeatInstruction = "Repeat the word twice.";
    public const string FirstLetterInstruction = "Give the first letter of the word.";

    /// <summary>The records for (count, seed).</summary>
    public static IReadOnlyList<AlpacaRecord> Generate(int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        var rng = new SplitMix64((ulong)(uint)seed);
        var records = new List<AlpacaRecord>(count);
        for (int i = 0; i < count; i++)
        {
            int task = rng.NextInt(5);
            string word = Words[rng.NextInt(Words.Count)];
            records.Add(task switch
            {
                0 => new AlpacaRecord(ReverseInstruction, word, new string(word.Reverse().ToArray())),
                1 => new AlpacaRecord(UppercaseInstruction, word, word.ToUpperInvariant()),
                2 => Add(rng.NextInt(10), rng.NextInt(10)),
                3 => new AlpacaRecord(RepeatInstruction, word, $"{word} {word}"),
                _ => new AlpacaRecord(FirstLetterInstruction, word, word[..1]),
            });
        }
        return records;
    }

    private static AlpacaRecord Add(int a, int b) =>
        new(AddInstruction, $"{a} {b}", (a + b).ToString(System.Globalization.CultureInfo.InvariantCulture));

    /// <summary>Writes the records as JSONL (one object per line, keys instruction/input/output).</summary>
    public static void WriteAlpacaJsonl(string path, int count, int seed) => WriteJsonl(path, Generate(count, seed));

    public static void WriteJsonl(string path, IEnumerable<AlpacaRecord> records)
    {
        using var stream = File.Create(path);
        foreach (var r in records)
        {
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                w.WriteString("instruction", r.Instruction);
                w.WriteString("input", r.Input);
                w.WriteString("output", r.Output);
                w.WriteEndObject();
            }
            stream.WriteByte((byte)'\n');
        }
    }

    /// <summary>
    /// The texts a tokenizer for these records should compress: each prompt (Alpaca template) and each output,
    /// plus both template variants once.
    /// </summary>
    public static IEnumerable<string> TokenizerCorpus(IEnumerable<AlpacaRecord> records)
    {
        yield return AlpacaPrompt.Format("Answer.", "");
        yield return AlpacaPrompt.Format("Answer.", "x");
        foreach (var r in records)
        {
            yield return AlpacaPrompt.Format(r.Instruction, r.Input);
            yield return r.Output;
        }
    }
}
