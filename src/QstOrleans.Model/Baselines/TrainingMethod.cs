namespace QstOrleans.Model.Baselines;

/// <summary>The fine-tuning methods the engine trains, side by side on the same data (the paper's comparison).</summary>
public enum TrainingMethod
{
    /// <summary>Quantized Side Tuning: NF4 backbone forward-only, trainable side network.</summary>
    Qst,
    /// <summary>LoRA adapters on every decoder-layer linear of a frozen bf16 backbone.</summary>
    Lora,
    /// <summary>LoRA on an NF4 backbone (backprop through the dequantized weights).</summary>
    QLora,
    /// <summary>Every weight trainable (fp32 master weights, bf16 compute).</summary>
    Full,
}

/// <summary>Names of <see cref="TrainingMethod"/> as <c>method.name</c> spells them.</summary>
public static class TrainingMethods
{
    /// <summary>qst, lora, qlora or full (any case).</summary>
    /// <exception cref="ArgumentException">Any other name (the message names the <c>--method</c> option).</exception>
    public static TrainingMethod Parse(string name) => name.ToLowerInvariant() switch
    {
        "qst" => TrainingMethod.Qst,
        "lora" => TrainingMethod.Lora,
        "qlora" => TrainingMethod.QLora,
        "full" => TrainingMethod.Full,
        _ => throw new ArgumentException($"--method: unknown method '{name}' (qst, lora, qlora, full)"),
    };
}
