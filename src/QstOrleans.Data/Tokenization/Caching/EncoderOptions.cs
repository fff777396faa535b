namespace QstOrleans.Data.Tokenization.Caching;

/// <summary>
/// How a loaded tokenizer encodes; never what it produces (every choice gives the same ids, checked against the
/// reference libraries' goldens).
/// </summary>
/// <param name="WordCache">Keep each word's segmentation (<see cref="WordCache{T}"/>) where that is exact: SentencePiece
/// BPE models whose pieces never join two words, and tokenizer.json BPE pre-tokens. False = segment every word every
/// time: the encoder as it was before the cache, kept as the baseline of <c>qst bench data</c>.</param>
public sealed record EncoderOptions(bool WordCache = true)
{
    /// <summary>What training and every command use.</summary>
    public static EncoderOptions Default { get; } = new();

    /// <summary>The encoder without its word cache (the baseline that benchmarks and tests compare against).</summary>
    public static EncoderOptions Uncached { get; } = new(WordCache: false);
}
