using QstOrleans.Model.Backbone;
using QstOrleans.Model.Baselines;
using QstOrleans.Model.Devices;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Quantization;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>
/// What runs on a CUDA device, checked on the CPU (CI has no GPU): the tensor-op NF4 dequantization that CUDA
/// weights use equals the scalar reference bitwise, modules moved with Module.to re-point every field (a stale field
/// would be a disposed tensor and throw), and device names parse with clear errors.
/// </summary>
public sealed class DeviceTests
{
    [Theory]
    [InlineData(64, 64, true)]
    [InlineData(96, 130, true)]     // 12,480 weights: not a multiple of 64 or of 16,384 (partial nested group)
    [InlineData(7, 9, false)]       // odd count: the last byte holds one code
    [InlineData(300, 257, true)]    // > 256 blocks: several nested absmax groups
    public void TensorOpDequantizationEqualsTheScalarReferenceBitwise(int rows, int cols, bool doubleQuant)
    {
        using var scope = NewDisposeScope();
        var weight = randn([rows, cols], generator: new TorchSharp.torch.Generator(11)) * 0.05f;
        using var q = Nf4Quantizer.Quantize(weight, doubleQuant);

        var f32 = q.DequantizeWithTensorOps(ScalarType.Float32);
        Assert.Equal(new long[] { rows, cols }, f32.shape);
        Assert.Equal(Nf4Reference.DecodeF32(q), Nf4Reference.ToFloats(f32));

        var bf16 = q.DequantizeWithTensorOps(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, bf16.dtype);
        Assert.Equal(Nf4Reference.DecodeBf16Bytes(q), bf16.contiguous().bytes.ToArray());
    }

    [Fact]
    public void CopyToTheCpuKeepsEveryPartAndDecodesTheSame()
    {
        using var scope = NewDisposeScope();
        var weight = randn([40, 70], generator: new TorchSharp.torch.Generator(3));
        using var q = Nf4Quantizer.Quantize(weight, doubleQuant: true);
        using var copy = q.To(CPU);
        Assert.Equal(DeviceType.CPU, copy.Device.type);
        Assert.Equal(q.Shape, copy.Shape);
        Assert.Equal(q.NestedOffset, copy.NestedOffset);
        Assert.Equal(Nf4Reference.DecodeF32(q), Nf4Reference.ToFloats(copy.Dequantize(ScalarType.Float32)));
        Assert.Equal(q.DequantizeAbsmax(), copy.DequantizeAbsmax());
    }

    /// <summary>
    /// Module.to replaces each registered tensor and disposes the old one; a field that still pointed at the old tensor
    /// would throw on the next forward. A dtype move goes through the same replacement code as a device move, so moving
    /// the fp32 model to fp64 and back must leave logits bitwise unchanged (fp32 → fp64 → fp32 is exact).
    /// </summary>
    [Fact]
    public void MovedModulesKeepEveryFieldPointingAtTheMovedTensors()
    {
        var config = TinyLlama.Config;
        using var model = (QstModel)ModelBuilder.Build(TinyLlama.Directory, config,
            new ModelBuildOptions(TrainingMethod.Qst, TinyLlama.Qst, Precision.Float32, BackboneFormat: WeightFormat.Float32, Seed: 4));
        using var scope = NewDisposeScope();
        var ids = tensor(new long[] { 5, 9, 17, 33, 2, 40, 41, 7 }, [2, 4]);
        var mask = ones_like(ids);
        float[] before;
        using (no_grad()) before = Nf4Reference.ToFloats(model.Logits(ids, mask));

        model.Side.to(ScalarType.Float64);
        model.Backbone.to(ScalarType.Float64);
        Assert.All(model.Side.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        Assert.All(model.Backbone.parameters(), p => Assert.Equal(ScalarType.Float64, p.dtype));
        model.Side.to(ScalarType.Float32);
        model.Backbone.to(ScalarType.Float32);

        float[] after;
        using (no_grad()) after = Nf4Reference.ToFloats(model.Logits(ids, mask));
        Assert.Equal(before, after);
    }

    [Fact]
    public void DeviceNamesParseAndBadOnesNameTheOption()
    {
        Assert.Equal(DeviceType.CPU, ComputeDevice.Parse("cpu").type);
        Assert.Equal(DeviceType.CPU, ComputeDevice.Parse(" CPU ").type);
        Assert.Equal(DeviceType.CPU, ComputeDevice.Parse("cpu:1").type);   // a CPU device slot
        Assert.Equal("cpu", ComputeDevice.Describe(CPU));
        var bad = Assert.Throws<ArgumentException>(() => ComputeDevice.Parse("gpu0", "--device"));
        Assert.Contains("--device", bad.Message);
        Assert.Contains("gpu0", bad.Message);
        if (!cuda.is_available())
        {
            // This CPU build has no CUDA: asking for it must say so at once, naming the option.
            var missing = Assert.Throws<ArgumentException>(() => ComputeDevice.Parse("cuda:0", "Qst:Slots:0:Device"));
            Assert.Contains("Qst:Slots:0:Device", missing.Message);
        }
    }

    [Fact]
    public void AttentionContextLivesOnItsMasksDevice()
    {
        using var mask = ones(2, 5, dtype: ScalarType.Int64);
        using var context = AttentionContext.Create(mask);
        Assert.Equal(mask.device_type, context.Mask.device_type);
        Assert.Equal(mask.device_type, context.Positions.device_type);
        var (cos, _) = context.Rope(16, 10000, null);
        Assert.Equal(mask.device_type, cos.device_type);
    }
}
