using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Tensors;

/// <summary>
/// Scalars that live for the whole process, and tensor sums that use them. Why: TorchSharp 0.107 turns a number operand
/// (<c>t * 0.5</c>, <c>1 - t</c>, <c>pow(2)</c>) and the hidden <c>alpha = 1</c> of every <c>a + b</c> into a temporary
/// <see cref="Scalar"/>, hands only its native handle to libtorch, and frees it in the Scalar's finalizer; a garbage
/// collection during the call frees it under libtorch's feet ("Expected false to be true … toFloat", Scalar.h:140, or a
/// silently wrong value). A static Scalar is never finalized. The values and kinds (int 1 for <c>alpha</c>) are the ones
/// TorchSharp's own overloads pass, so results are bitwise unchanged. <c>TemporaryScalarTests</c> keeps the hot path free
/// of temporaries.
/// </summary>
public static class Scalars
{
    /// <summary>Integer 1: the <c>alpha</c> TorchSharp's <c>add(t)</c> passes.</summary>
    public static readonly Scalar One = 1;
    /// <summary>Integer 2, for squares (<c>pow(2)</c>).</summary>
    public static readonly Scalar Two = 2;

    /// <summary><c>a + b</c> (same kernel and operands as TorchSharp's operator), without a temporary scalar.</summary>
    public static Tensor Plus(this Tensor a, Tensor b) => a.add(b, One);

    /// <summary><c>value - t</c> for a number held by <paramref name="value"/>: TorchSharp's <c>-t + value</c>.</summary>
    public static Tensor RSub(this Tensor t, Scalar value) => t.negative().add(value, One);

    /// <summary><c>t + value</c> (TorchSharp's <c>add(value, 1)</c>).</summary>
    public static Tensor PlusScalar(this Tensor t, Scalar value) => t.add(value, One);
}
