using QstOrleans.Model.Attention;
using static TorchSharp.torch;

namespace QstOrleans.Model.Layers;

/// <summary>
/// Dtype policy shared by the backbone, the side network and the baselines (spec §4):
/// matmul operands in <see cref="Compute"/> (bf16 by default, fp32 for tests), while norms,
/// softmax, residual streams, the loss and the logits stay fp32. Never fp16 (no CPU fast path).
/// </summary>
public sealed record Precision(ScalarType Compute, ScalarType Accumulate = ScalarType.Float32)
{
    /// <summary>
    /// Llama attention keeps its scores in <see cref="Compute"/> through mask and softmax (the softmax kernel accumulates
    /// in fp32 and rounds its output once) instead of an fp32 copy: saves 4 of the 6 bytes autograd keeps per score.
    /// Opt-in for the QST side layers (<c>QstConfig.SideScoresBf16</c>); false everywhere else. Eager and recomputed
    /// attention (the scores exist in both); the fused kernel never materializes them.
    /// </summary>
    public bool ScoresInCompute { get; init; }

    /// <summary>
    /// The attention kernel of every decoder layer: recompute (eager math, scores recomputed in backward instead of saved)
    /// by default; fused (libtorch's scaled-dot-product attention) and eager (scores saved) for benchmarks and tests.
    /// </summary>
    public AttentionKernel Attention { get; init; } = AttentionKernel.Recompute;

    public static Precision BFloat16 { get; } = new(ScalarType.BFloat16);
    public static Precision Float32 { get; } = new(ScalarType.Float32);
    /// <summary>Everything in float64: finite-difference gradient checks only.</summary>
    public static Precision Float64 { get; } = new(ScalarType.Float64, ScalarType.Float64);

    /// <summary>The dtype norms compute in for an input: fp32, or fp64 when the input is fp64.</summary>
    public static ScalarType NormDType(ScalarType input) => input == ScalarType.Float64 ? ScalarType.Float64 : ScalarType.Float32;

    /// <summary>A config's precision: <c>precision.dtype</c> and <c>precision.attention</c> (the kernel; recompute when absent).</summary>
    public static Precision Parse(string name, string attention = "recompute")
    {
        var dtype = name.ToLowerInvariant() switch
        {
            "bf16" or "bfloat16" => BFloat16,
            "fp32" or "float32" or "f32" => Float32,
            _ => throw new ArgumentException($"unknown compute dtype '{name}' (bf16, fp32)"),
        };
        var kernel = AttentionKernels.Parse(attention);
        return kernel == dtype.Attention ? dtype : dtype with { Attention = kernel };
    }

    public override string ToString() => Compute switch
    {
        ScalarType.BFloat16 => "bf16",
        ScalarType.Float64 => "fp64",
        _ => "fp32",
    };
}
