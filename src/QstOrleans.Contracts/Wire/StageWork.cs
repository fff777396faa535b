namespace QstOrleans.Contracts.Wire;

/// <summary>
/// Where a micro-batch goes after a stage: the ordered stage grain keys of its job's pipeline and the
/// job id (= the side-trainer grain key). Carried with every work item, because one stage grain serves
/// every job that uses the same model and split. <see cref="Attempt"/> fences recoveries: stages and the side
/// trainer drop work of an older attempt of the job. <see cref="LeanTaps"/>: the stages send U = W_A·x (and hold W_A)
/// instead of hidden states (<c>pipeline.taps</c>).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PipelineRoute(
    [property: Id(0)] string JobId,
    [property: Id(1)] IReadOnlyList<string> StageKeys,
    [property: Id(2)] int StageIndex,
    [property: Id(3)] int Attempt = 0,
    [property: Id(4)] bool LeanTaps = false)
{
    /// <summary>Whether the current stage is the pipeline's last.</summary>
    public bool IsLast => StageIndex == StageKeys.Count - 1;
    /// <summary>The route from the next stage on.</summary>
    public PipelineRoute Next() => this with { StageIndex = StageIndex + 1 };
}

/// <summary>One micro-batch entering a stage: token ids [B, T] (first stage) or hidden [B, T, H].</summary>
[GenerateSerializer, Immutable]
public sealed record StageWork(
    [property: Id(0)] PipelineRoute Route,
    [property: Id(1)] long Sequence,
    [property: Id(2)] TensorPayload Input,
    [property: Id(3)] TensorPayload AttentionMask);

/// <summary>
/// A piece of one tap (or of ĥ when <see cref="TapIndex"/> is −1) of micro-batch <see cref="Sequence"/>.
/// Taps of big models exceed Orleans' message limit, so each is split into byte chunks of at most the
/// configured size and reassembled by the side trainer.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TapChunk(
    [property: Id(0)] long Sequence,
    [property: Id(1)] int TapIndex,
    [property: Id(2)] int ChunkIndex,
    [property: Id(3)] int ChunkCount,
    [property: Id(4)] long[] Shape,
    [property: Id(5)] WireDType DType,
    [property: Id(6)] byte[] Data,
    [property: Id(7)] int Attempt = 0)
{
    /// <summary>TapIndex of the final-normed backbone output ĥ.</summary>
    public const int FinalNormed = -1;
}

/// <summary>The labels and mask of a micro-batch, sent by the job to the side trainer (for job attempt <see cref="Attempt"/>).</summary>
[GenerateSerializer, Immutable]
public sealed record SideBatch(
    [property: Id(0)] long Sequence,
    [property: Id(1)] int Epoch,
    [property: Id(2)] TensorPayload Labels,
    [property: Id(3)] TensorPayload AttentionMask,
    [property: Id(4)] int TokenCount,
    [property: Id(5)] int Attempt = 0);
