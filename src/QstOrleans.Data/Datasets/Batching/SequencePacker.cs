namespace QstOrleans.Data.Datasets;

/// <summary>Packed blocks and what packing dropped.</summary>
public sealed record PackResult(IReadOnlyList<TokenizedExample> Blocks, int TokensDropped, int BlocksWithoutLoss)
{
    public string Summary => $"{Blocks.Count} packed blocks; {TokensDropped} remainder tokens dropped; {BlocksWithoutLoss} blocks without a trained token dropped";
}

/// <summary>
/// Packing as HF's <c>group_texts</c> does it: the tokenized examples are concatenated in dataset order, each followed
/// by an EOS separator, and the stream is cut into blocks of exactly <c>blockSize</c> tokens.
/// </summary>
/// <remarks>
/// <para>Kept simple on purpose: positions do NOT restart and attention is NOT blocked at document boundaries (a
/// block is an ordinary causal sequence, as with group_texts); an example longer than a block continues in the
/// next block. Labels keep each example's loss mask.</para>
/// <para>Boundary token: no EOS is added after an example that already ends in EOS (chat/Alpaca/text rendering
/// ends trained turns with EOS). An added EOS is labelled EOS when the example's last label is trained (the model
/// learns to end the document) and -100 when it is not (it would follow untrained prompt text).</para>
/// <para>Remainder: the short last block is kept (padded at collate time) unless <c>dropRemainder</c>, which drops
/// it as group_texts does. A block with no trained label is dropped (it would add 0/0 to the loss).</para>
/// Throws <see cref="ArgumentOutOfRangeException"/> for blockSize &lt; 2.
/// </remarks>
public static class SequencePacker
{
    public static PackResult Pack(IReadOnlyList<TokenizedExample> examples, int blockSize, int eosId, bool dropRemainder = false)
    {
        if (blockSize < 2) throw new ArgumentOutOfRangeException(nameof(blockSize), blockSize, "blockSize must be at least 2.");
        var ids = new List<int>();
        var labels = new List<int>();
        foreach (var e in examples)
        {
            ids.AddRange(e.InputIds);
            labels.AddRange(e.Labels);
            if (e.Length > 0 && e.InputIds[^1] == eosId) continue;
            ids.Add(eosId);
            labels.Add(e.Length > 0 && e.Labels[^1] != InstructionCollator.IgnoreIndex ? eosId : InstructionCollator.IgnoreIndex);
        }

        var blocks = new List<TokenizedExample>();
        int withoutLoss = 0, dropped = 0;
        for (int start = 0; start < ids.Count; start += blockSize)
        {
            int length = Math.Min(blockSize, ids.Count - start);
            if (length < blockSize && dropRemainder) { dropped = length; break; }
            var blockLabels = labels.GetRange(start, length).ToArray();
            if (blockLabels.All(l => l == InstructionCollator.IgnoreIndex)) { withoutLoss++; continue; }
            blocks.Add(new TokenizedExample(ids.GetRange(start, length).ToArray(), blockLabels));
        }
        return new PackResult(blocks, dropped, withoutLoss);
    }
}
