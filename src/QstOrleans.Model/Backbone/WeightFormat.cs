using QstOrleans.Model.Layers;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Backbone;

/// <summary>How the backbone's decoder-layer Linear weights are held in memory.</summary>
public enum WeightFormat
{
    /// <summary>4-bit NF4, blocks of 64 (bitsandbytes); <see cref="BackboneOptions.DoubleQuant"/> adds 8-bit absmax.</summary>
    Nf4,
    /// <summary>bf16 (the LoRA baseline's backbone; also the reference for NF4 error).</summary>
    BFloat16,
    /// <summary>fp32 (tests against float64 references; full fine-tuning master weights).</summary>
    Float32,
}

/// <summary>
/// How to build a backbone (or a stage of it). Embeddings, norms and the LM head are never quantized
/// (bf16 embeddings/head, fp32 norms) unless <see cref="WeightFormat.Float32"/> asks for fp32 everywhere.
/// </summary>
/// <param name="Format">Linear weight storage.</param>
/// <param name="DoubleQuant">NF4 only: quantize the absmax vector too (spec §9.4). Default on, as QST does.</param>
/// <param name="Precision">Matmul dtype.</param>
/// <param name="CacheDequantized">NF4 only: keep dequantized weights after first use (memory for speed).</param>
/// <param name="Trainable">Full fine-tuning: every backbone weight becomes an fp32 trainable parameter.</param>
/// <param name="WrapLinear">LoRA/QLoRA: wraps each loaded linear (name, base) in a trainable adapter.</param>
/// <param name="Device">Where the weights go (CPU when null): each tensor is moved right after it is read or quantized,
/// so host memory never holds more than one layer's weight on its way to a GPU.</param>
public sealed record BackboneOptions(
    WeightFormat Format = WeightFormat.Nf4,
    bool DoubleQuant = true,
    Precision? Precision = null,
    bool CacheDequantized = false,
    bool Trainable = false,
    Func<string, nn.Module<Tensor, Tensor>, nn.Module<Tensor, Tensor>>? WrapLinear = null,
    Device? Device = null)
{
    /// <summary>The target device (CPU when none was given).</summary>
    public Device Target => Device ?? CPU;
    public bool OnCpu => Target.type == DeviceType.CPU;

    public Precision Compute => Precision ?? Layers.Precision.BFloat16;

    /// <summary>Storage dtype of embeddings and the LM head.</summary>
    public ScalarType EmbeddingDType => Trainable || Format == WeightFormat.Float32 ? ScalarType.Float32 : ScalarType.BFloat16;
}
