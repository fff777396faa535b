using QstOrleans.Data.Tokenization;

namespace QstOrleans.Data.Evaluation;

/// <summary>
/// The zero-shot MMLU prompt and answer-letter tokens. The model reads
/// <code>
/// {question}
/// A. {choice 0}
/// B. {choice 1}
/// C. {choice 2}
/// D. {choice 3}
/// Answer:
/// </code>
/// and its prediction is the letter whose token gets the largest logit at the last prompt position, as in the
/// QST/QLoRA reference's MMLU evaluation (which compares the logits of <c>tokenizer("A").input_ids[0]</c>..D).
/// </summary>
public static class MmluPrompt
{
    const string Cue = "Answer:";

    public static string Format(MmluQuestion q) =>
        $"{q.Question}\nA. {q.Choices[0]}\nB. {q.Choices[1]}\nC. {q.Choices[2]}\nD. {q.Choices[3]}\n{Cue}";

    /// <summary>BOS + the prompt's token ids.</summary>
    public static long[] Encode(ModelTokenizer tokenizer, MmluQuestion q) =>
        tokenizer.Encode(Format(q), addBos: true).Select(id => (long)id).ToArray();

    /// <summary>
    /// The token ids of " A", " B", " C", " D" as they follow "Answer:". Each is the token the letter adds after the
    /// cue: when " X" is one token (Llama's "▁A", tiktoken's " A") that token; when the tokenizer splits it
    /// (a small vocabulary: "▁" + "A") the last piece, the letter itself.
    /// </summary>
    /// <exception cref="InvalidDataException">The four letters do not map to four distinct tokens (names the tokenizer file).</exception>
    public static long[] LetterTokenIds(ModelTokenizer tokenizer)
    {
        var cue = tokenizer.Encode(Cue);
        var ids = MmluFile.Letters.Select(letter =>
        {
            var withLetter = tokenizer.Encode($"{Cue} {letter}");
            bool extends = withLetter.Count > cue.Count && withLetter.Take(cue.Count).SequenceEqual(cue);
            // Without a clean prefix (a merge across the cue), the last token still carries the letter.
            return (long)(extends && withLetter.Count == cue.Count + 1 ? withLetter[cue.Count] : withLetter[^1]);
        }).ToArray();
        if (ids.Distinct().Count() != 4)
            throw new InvalidDataException($"{tokenizer.SourceFile}: the answer letters A, B, C, D do not map to 4 distinct tokens (got {string.Join(", ", ids)})");
        return ids;
    }
}
