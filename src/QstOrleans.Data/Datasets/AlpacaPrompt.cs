namespace QstOrleans.Data.Datasets;

/// <summary>
/// The Alpaca prompt template as used by QLoRA / QST (<c>ALPACA_PROMPT_DICT</c>): one variant with an input
/// paragraph, one without. The prompt ends with "### Response: " (trailing space), and the model's target is the
/// raw output text.
/// </summary>
public static class AlpacaPrompt
{
    public const string WithInputHeader =
        "Below is an instruction that describes a task, paired with an input that provides further context. " +
        "Write a response that appropriately completes the request.\n\n";

    public const string NoInputHeader =
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n";

    /// <summary>The prompt; an empty or null <paramref name="input"/> selects the no-input variant (as QLoRA does).</summary>
    public static string Format(string instruction, string? input) =>
        string.IsNullOrEmpty(input)
            ? $"{NoInputHeader}### Instruction:\n{instruction}\n\n### Response: "
            : $"{WithInputHeader}### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response: ";
}
