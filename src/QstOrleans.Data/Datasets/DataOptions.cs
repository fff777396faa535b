namespace QstOrleans.Data.Datasets;

/// <summary>
/// How a training file becomes micro-batches (<c>--format</c>, <c>--max-length</c>, <c>--pack</c>,
/// <c>--group-by-length</c>, <c>--max-source-tokens</c>/<c>--max-target-tokens</c>, <c>--skip-invalid</c>).
/// </summary>
/// <param name="Format">The dataset format; null detects it (see <see cref="DatasetLoader"/>).</param>
/// <param name="MaxSourceTokens">Alpaca only: QLoRA's source_max_len, the prompt (with BOS) is cut to this.</param>
/// <param name="MaxTargetTokens">Alpaca only: QLoRA's target_max_len, the response (with EOS) is cut to this.</param>
/// <param name="MaxLength">Tokens per example (and the packing block size); 0 = <see cref="MaxSourceTokens"/> +
/// <see cref="MaxTargetTokens"/>. Alpaca examples get their source/target limits first, then this one when it is given.</param>
/// <param name="Pack">Concatenate the examples and cut them into blocks of exactly <see cref="EffectiveMaxLength"/>
/// tokens (<see cref="SequencePacker"/>, the short remainder dropped), so every micro-batch is [B, MaxLength].</param>
/// <param name="GroupByLength">Put examples of similar length into the same micro-batch (<see cref="BatchPlanner"/>).</param>
/// <param name="SkipInvalid">Drop bad records (counted in the report) instead of failing on the first one.</param>
/// <param name="ChatTemplate"><c>--chat-template</c>: null = the model's own, <c>alpaca</c> or a file (<see cref="ChatTemplateChoice"/>).</param>
public sealed record DataOptions(
    DatasetFormat? Format = null, int MaxSourceTokens = 512, int MaxTargetTokens = 512, int MaxLength = 0,
    bool Pack = false, bool GroupByLength = false, bool SkipInvalid = false, string? ChatTemplate = null)
{
    /// <summary>The per-example limit and packing block size actually used.</summary>
    public int EffectiveMaxLength => MaxLength > 0 ? MaxLength : MaxSourceTokens + MaxTargetTokens;

    /// <summary>
    /// <c>--format</c>: auto (null), alpaca, chat (ShareGPT or OpenAI messages), text, tokens (pre-tokenized).
    /// Throws <see cref="ArgumentException"/> naming the option for anything else.
    /// </summary>
    public static DatasetFormat? ParseFormat(string? text) => text?.ToLowerInvariant() switch
    {
        null or "" or "auto" => null,
        "alpaca" => DatasetFormat.Alpaca,
        "chat" or "sharegpt" or "openai" => DatasetFormat.Chat,
        "text" => DatasetFormat.Text,
        "tokens" or "pretokenized" or "pre-tokenized" => DatasetFormat.PreTokenized,
        _ => throw new ArgumentException($"--format: unknown dataset format '{text}' (auto, alpaca, chat, text, tokens)"),
    };

    /// <summary>Checks the limits; throws <see cref="ArgumentException"/> naming the option.</summary>
    public DataOptions Validate()
    {
        if (MaxSourceTokens < 1) throw new ArgumentException($"--max-source-tokens must be >= 1, got {MaxSourceTokens}");
        if (MaxTargetTokens < 1) throw new ArgumentException($"--max-target-tokens must be >= 1, got {MaxTargetTokens}");
        if (MaxLength != 0 && MaxLength < 2) throw new ArgumentException($"--max-length must be >= 2 (or 0 for source + target), got {MaxLength}");
        return this;
    }
}
