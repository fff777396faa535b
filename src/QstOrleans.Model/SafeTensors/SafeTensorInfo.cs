namespace QstOrleans.Model.SafeTensors;

/// <summary>
/// One header entry: dtype, shape (empty for a scalar) and the end-exclusive byte range
/// [<see cref="Begin"/>, <see cref="End"/>) relative to the start of the data buffer.
/// </summary>
public sealed record SafeTensorInfo(string Name, SafeTensorDType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Product of the shape (1 for a scalar, 0 when any dimension is 0).</summary>
    /// <exception cref="OverflowException">The product does not fit a long.</exception>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n = checked(n * d);
            return n;
        }
    }

    /// <summary>End - Begin: the bytes the header says the tensor occupies.</summary>
    public long ByteLength => End - Begin;

    /// <summary>"[3, 4]" style rendering used in error messages.</summary>
    public string ShapeText => FormatShape(Shape);

    internal static string FormatShape(IEnumerable<long> shape) => "[" + string.Join(", ", shape) + "]";
}
