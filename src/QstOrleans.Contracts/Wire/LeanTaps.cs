namespace QstOrleans.Contracts.Wire;

// Lean taps (pipeline.taps = lean): a stage sends U_t = W_A · tap_t ([B, T, p]) instead of tap_t ([B, T, H]) and owns the
// W_A slices of its layers (adapter i reads layer i's output; adapter 0 also the embedding output). The side trainer sends
// back G_t = ∂L/∂U_t; the stage forms ∂L/∂W_A itself and, once per optimizer step, reports Σ g² of its W_A gradients and
// applies the side trainer's clip coefficient and lr with the same AdamW. The side trainer collects the slices for
// checkpoints. See src/QstOrleans.Grains/Stages/StageLeanTaps.cs for the versioning.

/// <summary>One adapter's W_A [p, H] with its AdamW state (moments of the same shape, the parameter's step count).</summary>
[GenerateSerializer, Immutable]
public sealed record AdapterSlice(
    [property: Id(0)] int Adapter,
    [property: Id(1)] TensorPayload Weight,
    [property: Id(2)] TensorPayload ExpAvg,
    [property: Id(3)] TensorPayload ExpAvgSq,
    [property: Id(4)] long Step);

/// <summary>
/// The W_A slices a stage holds for one job attempt, at optimizer version <see cref="Version"/> (updates applied), with
/// what the stage needs to project and step them: micro-batch s reads version s / <see cref="Accumulation"/>.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StageAdapterState(
    [property: Id(0)] string JobId,
    [property: Id(1)] int Attempt,
    [property: Id(2)] int Version,
    [property: Id(3)] int Accumulation,
    [property: Id(4)] string ComputeDtype,
    [property: Id(5)] double Beta1,
    [property: Id(6)] double Beta2,
    [property: Id(7)] double Epsilon,
    [property: Id(8)] double WeightDecay,
    [property: Id(9)] IReadOnlyList<AdapterSlice> Slices);

/// <summary>G_t = ∂L/∂U_t [B, T, p] of micro-batch <see cref="Sequence"/> for the taps one stage owns, in tap order.
/// <see cref="WindowEnd"/>: the last micro-batch of an optimizer step (the stage answers with its squared gradient norms).</summary>
[GenerateSerializer, Immutable]
public sealed record TapGradients(
    [property: Id(0)] string JobId,
    [property: Id(1)] int Attempt,
    [property: Id(2)] long Sequence,
    [property: Id(3)] IReadOnlyList<int> Taps,
    [property: Id(4)] IReadOnlyList<TensorPayload> Gradients,
    [property: Id(5)] bool WindowEnd);

/// <summary>Optimizer step <see cref="Step"/> (1-based) as the side trainer applied it: the stage multiplies its W_A
/// gradients by <see cref="ClipCoefficient"/> and steps AdamW with <see cref="LearningRate"/>.</summary>
[GenerateSerializer, Immutable]
public sealed record AdapterStep(
    [property: Id(0)] string JobId,
    [property: Id(1)] int Attempt,
    [property: Id(2)] int Step,
    [property: Id(3)] double LearningRate,
    [property: Id(4)] float ClipCoefficient);
