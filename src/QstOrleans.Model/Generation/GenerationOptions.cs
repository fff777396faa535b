namespace QstOrleans.Model.Generation;

/// <summary>How the <see cref="TokenGenerator"/> decodes.</summary>
/// <param name="MaxNewTokens">Stop after this many generated tokens.</param>
/// <param name="Temperature">0 = greedy; otherwise softmax temperature for sampling.</param>
/// <param name="TopP">Nucleus mass kept when sampling (1 = the whole distribution).</param>
/// <param name="Seed">Seeds the sampler: the same seed gives the same tokens.</param>
/// <param name="StopTokens">Token ids that end generation (EOS); the stop token itself is not emitted.</param>
/// <param name="UseCache">false recomputes the whole prefix every step (slow; a check of the cached path).</param>
public sealed record GenerationOptions(
    int MaxNewTokens = 128,
    double Temperature = 0,
    double TopP = 1.0,
    long Seed = 0,
    IReadOnlyCollection<int>? StopTokens = null,
    bool UseCache = true);

/// <summary>Why generation ended.</summary>
public enum StopReason
{
    /// <summary>A stop token (EOS) was sampled.</summary>
    EndOfSequence,
    /// <summary><see cref="GenerationOptions.MaxNewTokens"/> tokens were generated.</summary>
    MaxNewTokens,
    /// <summary>The sequence reached the model's <c>max_position_embeddings</c>.</summary>
    ContextFull,
}

/// <summary>The generated tokens (stop token excluded), why generation ended, and timings.</summary>
/// <param name="Prefill">Time of the first step (the whole prompt).</param>
/// <param name="Decode">Time of the later steps (one token each with the cache).</param>
public sealed record GenerationResult(IReadOnlyList<int> Tokens, StopReason Reason, TimeSpan Prefill, TimeSpan Decode)
{
    /// <summary>Generated tokens per second after the first step (null with fewer than two tokens).</summary>
    public double? DecodeTokensPerSecond => Tokens.Count > 1 && Decode > TimeSpan.Zero ? (Tokens.Count - 1) / Decode.TotalSeconds : null;
}
