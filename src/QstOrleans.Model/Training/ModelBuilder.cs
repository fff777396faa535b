using QstOrleans.Configuration;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>What to build for a training run. Built from a <see cref="TrainingConfig"/> (<see cref="From"/>); an argument
/// left out takes the config's default (<see cref="TrainingConfig.Defaults"/>), never one declared here.</summary>
public sealed record ModelBuildOptions
{
    /// <param name="Method">QST or a baseline (<c>method.name</c>).</param>
    /// <param name="Qst">Side-network hyper-parameters (QST only; <c>qst</c>).</param>
    /// <param name="Precision">Matmul dtype (<c>precision.dtype</c>: bf16 default; fp32 for tests) and attention kernel
    /// (<c>precision.attention</c>).</param>
    /// <param name="DoubleQuant">NF4 double quantization (QST and QLoRA backbones; <c>precision.double_quant</c>).</param>
    /// <param name="BackboneFormat">QST only: NF4 (default) or bf16/fp32 for an unquantized reference (<c>precision.backbone_format</c>).</param>
    /// <param name="LoraRank">LoRA/QLoRA rank r (<c>method.lora_rank</c>).</param>
    /// <param name="LoraAlpha">LoRA/QLoRA α, scale α/r (<c>method.lora_alpha</c>).</param>
    /// <param name="Seed">Seeds every trainable parameter's init (<c>schedule.seed</c>).</param>
    /// <param name="CacheDequantized">Keep the dequantized NF4 weights (same numbers, more memory; benchmarks and tests).</param>
    /// <param name="GradientCheckpointing">lora/qlora/full: recompute each decoder layer in backward (<c>method.gradient_checkpointing</c>).</param>
    /// <param name="Device">Where the model computes (CPU when null). Trainable parameters are drawn on the CPU from the
    /// seeded generator, then moved, so a seed gives the same initial weights on every device.</param>
    /// <param name="LeanTaps">QST only: train the split form of the adapters' first projection that the distributed run uses
    /// with lean taps (<c>pipeline.taps</c> = lean), so the two stay bitwise equal.</param>
    public ModelBuildOptions(TrainingMethod? Method = null, QstConfig? Qst = null, Precision? Precision = null, bool? DoubleQuant = null,
        WeightFormat? BackboneFormat = null, int? LoraRank = null, double? LoraAlpha = null, long? Seed = null,
        bool CacheDequantized = false, Device? Device = null, bool? LeanTaps = null, bool? GradientCheckpointing = null)
    {
        var d = TrainingConfig.Defaults;
        this.Method = Method ?? TrainingMethods.Parse(d.Method.Name);
        this.Qst = Qst ?? QstConfig.From(d.Qst);
        this.Precision = Precision ?? Layers.Precision.Parse(d.Precision.Dtype, d.Precision.Attention);
        this.DoubleQuant = DoubleQuant ?? d.Precision.DoubleQuant;
        this.BackboneFormat = BackboneFormat ?? ParseBackboneFormat(d.Precision.BackboneFormat);
        this.LoraRank = LoraRank ?? d.Method.LoraRank;
        this.LoraAlpha = LoraAlpha ?? d.Method.LoraAlpha;
        this.Seed = Seed ?? d.Schedule.Seed;
        this.CacheDequantized = CacheDequantized;
        this.Device = Device;
        this.LeanTaps = LeanTaps ?? IsLean(d.Pipeline.Taps);
        this.GradientCheckpointing = GradientCheckpointing ?? d.Method.GradientCheckpointing;
    }

    public TrainingMethod Method { get; init; }
    public QstConfig Qst { get; init; }
    public Precision Precision { get; init; }
    public bool DoubleQuant { get; init; }
    public WeightFormat BackboneFormat { get; init; }
    public int LoraRank { get; init; }
    public double LoraAlpha { get; init; }
    public long Seed { get; init; }
    public bool CacheDequantized { get; init; }
    public Device? Device { get; init; }
    public bool LeanTaps { get; init; }
    public bool GradientCheckpointing { get; init; }
    /// <summary>QLoRA: keep each dequantized NF4 weight from forward to backward instead of dequantizing again in backward
    /// (<see cref="Quantization.Nf4Linear.KeepDequantizedForBackward"/>; benchmarks compare both).</summary>
    public bool KeepDequantizedForBackward { get; init; }

    /// <summary>True for <c>pipeline.taps</c> = lean.</summary>
    public static bool IsLean(string taps) => string.Equals(taps, "lean", StringComparison.OrdinalIgnoreCase);

    /// <summary>The matmul dtype policy (<see cref="Precision"/>).</summary>
    public Precision Compute => Precision;
    /// <summary>The device the model computes on (CPU when <see cref="Device"/> is null).</summary>
    public Device Target => Device ?? CPU;

    /// <summary>The engine's view of a config: <c>method</c>, <c>qst</c>, <c>precision</c> and <c>schedule.seed</c>.</summary>
    /// <param name="device">Where the model computes (the caller parses <c>runtime.device</c>; null = CPU).</param>
    public static ModelBuildOptions From(TrainingConfig c, Device? device = null) => new(
        TrainingMethods.Parse(c.Method.Name), QstConfig.From(c.Qst), Layers.Precision.Parse(c.Precision.Dtype, c.Precision.Attention), c.Precision.DoubleQuant,
        ParseBackboneFormat(c.Precision.BackboneFormat), c.Method.LoraRank, c.Method.LoraAlpha, c.Schedule.Seed, Device: device,
        LeanTaps: IsLean(c.Pipeline.Taps), GradientCheckpointing: c.Method.GradientCheckpointing);

    /// <summary>Reads <c>precision.backbone_format</c>: nf4, bf16 (bfloat16) or fp32 (float32).</summary>
    /// <exception cref="ArgumentException">Any other name (the message names the key).</exception>
    public static WeightFormat ParseBackboneFormat(string name) => name.ToLowerInvariant() switch
    {
        "nf4" => WeightFormat.Nf4,
        "bf16" or "bfloat16" => WeightFormat.BFloat16,
        "fp32" or "float32" => WeightFormat.Float32,
        _ => throw new ArgumentException($"precision.backbone_format: '{name}' is not nf4, bf16 or fp32"),
    };
}

/// <summary>Builds an <see cref="ITrainableModel"/> for a method from a HF model directory.</summary>
public static class ModelBuilder
{
    public static ITrainableModel Build(string modelDirectory, ModelConfig config, ModelBuildOptions o)
    {
        switch (o.Method)
        {
            case TrainingMethod.Qst:
            {
                var qst = o.Qst.Validate(config);
                var options = new BackboneOptions(o.BackboneFormat, o.DoubleQuant, o.Compute, o.CacheDequantized, Device: o.Device);
                var backbone = BackboneLoader.LoadAll(modelDirectory, config, options);
                var side = new QstSideNetwork(config, qst, o.Compute, o.Seed);
                if (o.Target.type != DeviceType.CPU) side.to(o.Target);
                var head = BackboneLoader.LoadLmHead(modelDirectory, config, options);
                if (o.LeanTaps && !side.SupportsLeanTaps)
                    throw new ArgumentException("pipeline.taps = lean needs qst.layer_norm_before_adapter = false and qst.adapter_dropout = 0 " +
                                                "(both read the full hidden state before W_A); use --taps full");
                return new QstModel(backbone, side, head) { LeanTaps = o.LeanTaps };
            }
            case TrainingMethod.Lora:
            case TrainingMethod.QLora:
            {
                var generator = new Generator((ulong)o.Seed);
                var format = o.Method == TrainingMethod.QLora ? WeightFormat.Nf4 : WeightFormat.BFloat16;
                if (o.Compute.Compute == ScalarType.Float32 && format == WeightFormat.BFloat16) format = WeightFormat.Float32;
                var options = new BackboneOptions(format, o.DoubleQuant, o.Compute, o.CacheDequantized,
                    WrapLinear: (_, linear) => WrapLora(linear, o, generator), Device: o.Device);
                var backbone = BackboneLoader.LoadAll(modelDirectory, config, options);
                backbone.GradientCheckpointing = o.GradientCheckpointing;
                foreach (var nf4 in backbone.modules().OfType<Quantization.Nf4Linear>()) nf4.KeepDequantizedForBackward = o.KeepDequantizedForBackward;
                var head = BackboneLoader.LoadLmHead(modelDirectory, config, options);
                return new BaselineModel(o.Method, backbone, head, null, o.Compute);
            }
            case TrainingMethod.Full:
            {
                var options = new BackboneOptions(WeightFormat.Float32, false, o.Compute, Trainable: true, Device: o.Device);
                var backbone = BackboneLoader.LoadAll(modelDirectory, config, options);
                backbone.GradientCheckpointing = o.GradientCheckpointing;
                using var frozen = BackboneLoader.LoadLmHead(modelDirectory, config, options);
                var head = new DenseLinear(frozen.Weight.to(ScalarType.Float32).clone(), null, trainable: true);
                return new BaselineModel(o.Method, backbone, null, head, o.Compute);
            }
            default:
                throw new ArgumentOutOfRangeException(nameof(o), o.Method, "unknown training method");
        }
    }

    static nn.Module<Tensor, Tensor> WrapLora(nn.Module<Tensor, Tensor> linear, ModelBuildOptions o, Generator generator)
    {
        var (outF, inF) = linear switch
        {
            DenseLinear d => (d.OutFeatures, d.InFeatures),
            Quantization.Nf4Linear q => (q.OutFeatures, q.InFeatures),
            _ => throw new InvalidOperationException($"cannot wrap {linear.GetType().Name} with LoRA"),
        };
        var lora = new LoraLinear(linear, inF, outF, o.LoraRank, o.LoraAlpha, generator);
        if (o.Target.type != DeviceType.CPU) lora.to(o.Target);   // the adapters are drawn on the CPU, the base is already there
        return lora;
    }
}
