namespace QstOrleans.Model.Training;

/// <summary>
/// A micro-batch's loss or a step's gradient norm is NaN or infinite: the run stops instead of training on garbage
/// (NaN weights, a hostile config such as <c>rope_theta: -1</c>, a learning rate that diverges). Deterministic: replaying
/// the same inputs gives the same value, so the job fails rather than recovers. Thrown before the step's checkpoint,
/// so a non-finite weight is never checkpointed.
/// </summary>
public sealed class NonFiniteTrainingException(string message) : ArithmeticException(message);
