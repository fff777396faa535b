namespace QstOrleans.Model.SafeTensors;

/// <summary>
/// A safetensors file, shard index or checkpoint directory is malformed or incomplete, or a
/// requested tensor does not exist. The message always starts with the file (or directory) path
/// and, where one tensor is at fault, names it:
/// <c>"/m/model.safetensors: tensor 'x.weight': data_offsets [0, 10] hold 10 bytes but F32 [3, 4] needs 48"</c>.
/// </summary>
public sealed class SafeTensorsFormatException : Exception
{
    /// <summary>Creates the exception; <paramref name="detail"/> is the part after the file/tensor prefix.</summary>
    public SafeTensorsFormatException(string filePath, string? tensorName, string detail, Exception? inner = null)
        : base(Format(filePath, tensorName, detail), inner)
    {
        FilePath = filePath;
        TensorName = tensorName;
    }

    /// <summary>The file (or checkpoint directory) the problem was found in.</summary>
    public string FilePath { get; }

    /// <summary>The tensor at fault, or null when the problem concerns the whole file.</summary>
    public string? TensorName { get; }

    private static string Format(string filePath, string? tensorName, string detail) =>
        tensorName is null ? $"{filePath}: {detail}" : $"{filePath}: tensor '{tensorName}': {detail}";
}
