namespace QstOrleans.Data.Datasets;

/// <summary>One example's token ids and labels (-100 where no loss is taken); same length.</summary>
public sealed record TokenizedExample(int[] InputIds, int[] Labels)
{
    public int Length => InputIds.Length;
}

/// <summary>
/// A right-padded batch, flattened row-major: element [b, t] is at <c>b * SequenceLength + t</c>.
/// </summary>
/// <param name="InputIds">[B*T] token ids; pad positions hold the pad id.</param>
/// <param name="Labels">[B*T] labels; -100 on the prompt and on padding.</param>
/// <param name="AttentionMask">[B*T] 1 for real tokens, 0 for padding.</param>
public sealed record Batch(long[] InputIds, long[] Labels, long[] AttentionMask, int BatchSize, int SequenceLength)
{
    /// <summary>Non-pad tokens (sum of the attention mask).</summary>
    public int TokenCount => (int)AttentionMask.Sum();

    /// <summary>
    /// Labels that carry loss (≠ -100). Position 0 of every row is the BOS, always -100, so this equals the number
    /// of terms in the shifted cross-entropy mean.
    /// </summary>
    public int LabelCount => Labels.Count(l => l != InstructionCollator.IgnoreIndex);
}

/// <summary>Truncation limits of the collator (QLoRA's source_max_len / target_max_len, both ≥ 1).</summary>
public sealed record CollatorOptions(int MaxSourceTokens = 512, int MaxTargetTokens = 512);

/// <summary>The tokenized examples of a dataset plus how many were truncated.</summary>
public sealed record TokenizedDataset(IReadOnlyList<TokenizedExample> Examples, int SourceTruncated, int TargetTruncated)
{
    public string Summary => $"{Examples.Count} examples; {SourceTruncated} prompts and {TargetTruncated} responses truncated";
}
