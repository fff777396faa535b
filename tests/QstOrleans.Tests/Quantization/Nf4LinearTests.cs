using QstOrleans.Model.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Quantization;

public sealed class Nf4LinearTests
{
    private static (Nf4Tensor Q, Tensor Bias, Tensor X) Make(ScalarType dtype)
    {
        using var gen = new Generator(21);
        using var w = randn(new long[] { 48, 128 }, generator: gen).to(ScalarType.BFloat16);
        var bias = randn(new long[] { 48 }, generator: gen);                 // fp32 bias, cast per call
        var x = randn(new long[] { 2, 5, 128 }, generator: gen).to(dtype);   // [B, T, in]
        return (Nf4Quantizer.Quantize(w), bias, x);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16, false, false)]
    [InlineData(ScalarType.Float32, false, false)]
    [InlineData(ScalarType.BFloat16, false, true)]
    [InlineData(ScalarType.Float32, false, true)]
    [InlineData(ScalarType.BFloat16, true, false)]
    [InlineData(ScalarType.Float32, true, false)]
    public void ForwardEqualsLinearWithTheDequantizedWeight(ScalarType dtype, bool cache, bool reuseScratch)
    {
        using var scope = NewDisposeScope();
        var (q, bias, x) = Make(dtype);
        using var expectedW = tensor(Nf4Reference.DecodeF32(q)).reshape(48, 128).to(dtype);
        using var expected = nn.functional.linear(x, expectedW, bias.to(dtype));

        using var layer = new Nf4Linear(q, bias, cacheDequantized: cache) { ReuseScratch = reuseScratch };
        for (int call = 0; call < 2; call++) // second call exercises the cache when enabled
        {
            using var y = layer.forward(x);
            Assert.Equal(dtype, y.dtype);
            Assert.Equal(new long[] { 2, 5, 48 }, y.shape);
            Assert.True(y.eq(expected).all().item<bool>());
        }
    }

    [Fact]
    public void HasNoParametersOrBuffersAndNoBias()
    {
        using var scope = NewDisposeScope();
        var (q, _, x) = Make(ScalarType.Float32);
        using var layer = new Nf4Linear(q);
        Assert.Empty(layer.parameters());
        Assert.Empty(layer.buffers());
        using var y = layer.forward(x);
        using var expected = nn.functional.linear(x, q.Dequantize(ScalarType.Float32));
        Assert.True(y.eq(expected).all().item<bool>());
        Assert.False(y.requires_grad);
    }

    [Fact]
    public void InputGradientStaysCorrectWhenAnotherLayerReusesTheScratchBuffer()
    {
        using var scope = NewDisposeScope();
        var (q, _, x) = Make(ScalarType.Float32);
        using var gen = new Generator(99);
        using var other = new Nf4Linear(Nf4Quantizer.Quantize(randn(new long[] { 48, 128 }, generator: gen)));
        using var layer = new Nf4Linear(q);
        var xg = x.detach().requires_grad_(true);
        var y = layer.forward(xg);                 // graph saves the weight
        using (no_grad()) other.forward(x);        // same shape: would overwrite a shared buffer
        y.sum().backward();
        // d(sum(x Wᵀ))/dx = 1 · W: every row of the input gradient is the column sum of W.
        using var w = tensor(Nf4Reference.DecodeF32(q)).reshape(48, 128);
        using var expected = w.sum(new long[] { 0 }).expand(2, 5, 128); // not sum(0): literal 0 binds to the ScalarType overload
        Assert.True(xg.grad!.allclose(expected, rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void RejectsBadInputs()
    {
        using var scope = NewDisposeScope();
        var (q, _, _) = Make(ScalarType.Float32);
        using var layer = new Nf4Linear(q);
        Assert.Throws<ArgumentException>(() => layer.forward(ones(2, 64)));
        Assert.Throws<ArgumentException>(() => layer.forward(ones(new long[] { 2, 128 }, ScalarType.Float64)));
        using var q1 = Nf4Quantizer.Quantize(ones(64));
        Assert.Throws<ArgumentException>(() => new Nf4Linear(q1));
    }
}
