using TorchSharp;

namespace QstOrleans.Model.SafeTensors;

/// <summary>The safetensors dtypes this port reads and writes (names as in the file header).</summary>
public enum SafeTensorDType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL }

/// <summary>
/// Element sizes, header names and TorchSharp <see cref="torch.ScalarType"/> mapping of
/// <see cref="SafeTensorDType"/>. Newer dtypes (F8_E4M3, F8_E5M2, U16/U32/U64) are rejected by
/// <see cref="Parse"/> with a <see cref="SafeTensorsFormatException"/> because TorchSharp 0.107 has
/// no matching type we use.
/// </summary>
public static class SafeTensorDTypes
{
    /// <summary>Bytes per element (BOOL is stored as one byte, 0 or 1).</summary>
    public static int ElementSize(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F64 or SafeTensorDType.I64 => 8,
        SafeTensorDType.F32 or SafeTensorDType.I32 => 4,
        SafeTensorDType.F16 or SafeTensorDType.BF16 or SafeTensorDType.I16 => 2,
        SafeTensorDType.I8 or SafeTensorDType.U8 or SafeTensorDType.BOOL => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown safetensors dtype"),
    };

    /// <summary>The TorchSharp scalar type holding this dtype bit for bit.</summary>
    public static torch.ScalarType ToTorch(SafeTensorDType dtype) => dtype switch
    {
        SafeTensorDType.F64 => torch.ScalarType.Float64,
        SafeTensorDType.F32 => torch.ScalarType.Float32,
        SafeTensorDType.F16 => torch.ScalarType.Float16,
        SafeTensorDType.BF16 => torch.ScalarType.BFloat16,
        SafeTensorDType.I64 => torch.ScalarType.Int64,
        SafeTensorDType.I32 => torch.ScalarType.Int32,
        SafeTensorDType.I16 => torch.ScalarType.Int16,
        SafeTensorDType.I8 => torch.ScalarType.Int8,
        SafeTensorDType.U8 => torch.ScalarType.Byte,
        SafeTensorDType.BOOL => torch.ScalarType.Bool,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown safetensors dtype"),
    };

    /// <summary>Inverse of <see cref="ToTorch"/>.</summary>
    /// <exception cref="NotSupportedException">Complex and other scalar types safetensors cannot hold here.</exception>
    public static SafeTensorDType FromTorch(torch.ScalarType type) => type switch
    {
        torch.ScalarType.Float64 => SafeTensorDType.F64,
        torch.ScalarType.Float32 => SafeTensorDType.F32,
        torch.ScalarType.Float16 => SafeTensorDType.F16,
        torch.ScalarType.BFloat16 => SafeTensorDType.BF16,
        torch.ScalarType.Int64 => SafeTensorDType.I64,
        torch.ScalarType.Int32 => SafeTensorDType.I32,
        torch.ScalarType.Int16 => SafeTensorDType.I16,
        torch.ScalarType.Int8 => SafeTensorDType.I8,
        torch.ScalarType.Byte => SafeTensorDType.U8,
        torch.ScalarType.Bool => SafeTensorDType.BOOL,
        _ => throw new NotSupportedException($"torch scalar type {type} has no safetensors dtype in this port"),
    };

    /// <summary>Parses a header dtype string (case-sensitive, as the reference implementation).</summary>
    /// <exception cref="SafeTensorsFormatException">Unknown or unsupported dtype; names file and tensor.</exception>
    public static SafeTensorDType Parse(string name, string filePath, string tensorName) => name switch
    {
        "F64" => SafeTensorDType.F64,
        "F32" => SafeTensorDType.F32,
        "F16" => SafeTensorDType.F16,
        "BF16" => SafeTensorDType.BF16,
        "I64" => SafeTensorDType.I64,
        "I32" => SafeTensorDType.I32,
        "I16" => SafeTensorDType.I16,
        "I8" => SafeTensorDType.I8,
        "U8" => SafeTensorDType.U8,
        "BOOL" => SafeTensorDType.BOOL,
        _ => throw new SafeTensorsFormatException(filePath, tensorName,
            $"unsupported dtype '{name}' (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)"),
    };

    /// <summary>The header string of a dtype ("F32", "BF16", "BOOL", ...).</summary>
    public static string ToName(SafeTensorDType dtype) => dtype switch
    {
        // Enum member names are exactly the header names; the switch keeps this AOT/trim-proof.
        SafeTensorDType.F64 => "F64",
        SafeTensorDType.F32 => "F32",
        SafeTensorDType.F16 => "F16",
        SafeTensorDType.BF16 => "BF16",
        SafeTensorDType.I64 => "I64",
        SafeTensorDType.I32 => "I32",
        SafeTensorDType.I16 => "I16",
        SafeTensorDType.I8 => "I8",
        SafeTensorDType.U8 => "U8",
        SafeTensorDType.BOOL => "BOOL",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "unknown safetensors dtype"),
    };
}
