using QstOrleans.Model.Backbone;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>What to build for a training run.</summary>
/// <param name="Method">QST or a baseline.</param>
/// <param name="Qst">Side-network hyper-parameters (QST only).</param>
/// <param name="Precision">Matmul dtype (bf16 default; fp32 for tests).</param>
/// <param name="DoubleQuant">NF4 double quantization (QST and QLoRA backbones).</param>
/// <param name="BackboneFormat">QST only: NF4 (default) or bf16/fp32 for an unquantized reference.</param>
/// <param name="LoraRank">LoRA/QLoRA rank r.</param>
/// <param name="LoraAlpha">LoRA/QLoRA α (scale α/r).</param>
/// <param name="Seed">Seeds every trainable parameter's init.</param>
/// <param name="Device">Where the model computes (CPU when null). Trainable parameters are drawn on the CPU from the
/// seeded generator, then moved, so a seed gives the same initial weights on every device.</param>
public sealed record ModelBuildOptions(
    TrainingMethod Method = TrainingMethod.Qst,
    QstConfig? Qst = null,
    Precision? Precision = null,
    bool DoubleQuant = true,
    WeightFormat BackboneFormat = WeightFormat.Nf4,
    int LoraRank = 8,
    double LoraAlpha = 16,
    long Seed = 0,
    bool CacheDequantized = false,
    Device? Device = null)
{
    public Precision Compute => Precision ?? Layers.Precision.BFloat16;
    public Device Target => Device ?? CPU;
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
                var qst = (o.Qst ?? new QstConfig()).Validate(config);
                var options = new BackboneOptions(o.BackboneFormat, o.DoubleQuant, o.Compute, o.CacheDequantized, Device: o.Device);
                var backbone = BackboneLoader.LoadAll(modelDirectory, config, options);
                var side = new QstSideNetwork(config, qst, o.Compute, o.Seed);
                if (o.Target.type != DeviceType.CPU) side.to(o.Target);
                var head = BackboneLoader.LoadLmHead(modelDirectory, config, options);
                return new QstModel(backbone, side, head);
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
                var head = BackboneLoader.LoadLmHead(modelDirectory, config, options);
                return new BaselineModel(o.Method, backbone, head, null, o.Compute);
            }
            case TrainingMethod.Full:
            {
                var options = new BackboneOptions(WeightFormat.Float32, false, o.Compute, Trainable: true, Device: o.Device);
                var backbone = BackboneLoader.LoadAll(modelDirectory, config, options);
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
