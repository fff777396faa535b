using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Grains.Transport;

/// <summary>Tensor ↔ <see cref="TensorPayload"/> (raw bytes; CPU; contiguous).</summary>
public static class TensorPayloads
{
    public static TensorPayload From(Tensor tensor)
    {
        using var cpu = tensor.device_type == DeviceType.CPU && tensor.is_contiguous() ? null : tensor.cpu().contiguous();
        var source = cpu ?? tensor;
        return new TensorPayload(source.bytes.ToArray(), source.shape, ToWire(source.dtype));
    }

    public static TensorPayload From(long[] values, long[] shape) =>
        new(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), shape, WireDType.Int64);

    /// <summary>A new CPU tensor holding a copy of the payload (created in the caller's dispose scope).</summary>
    public static Tensor ToTensor(TensorPayload payload) => ToTensor(payload.Data, payload.Shape, payload.DType);

    public static Tensor ToTensor(ReadOnlySpan<byte> data, long[] shape, WireDType dtype)
    {
        var t = empty(shape, ToTorch(dtype));
        if (t.bytes.Length != data.Length)
        {
            t.Dispose();
            throw new ArgumentException($"payload has {data.Length} bytes but {dtype} [{string.Join(", ", shape)}] needs {t.bytes.Length}");
        }
        data.CopyTo(t.bytes);
        return t;
    }

    public static WireDType ToWire(ScalarType type) => type switch
    {
        ScalarType.Float32 => WireDType.Float32,
        ScalarType.BFloat16 => WireDType.BFloat16,
        ScalarType.Int64 => WireDType.Int64,
        _ => throw new NotSupportedException($"no wire dtype for {type}"),
    };

    public static ScalarType ToTorch(WireDType type) => type switch
    {
        WireDType.Float32 => ScalarType.Float32,
        WireDType.BFloat16 => ScalarType.BFloat16,
        _ => ScalarType.Int64,
    };
}
