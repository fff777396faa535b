namespace QstOrleans.Contracts.Wire;

/// <summary>What a side-trainer grain builds: the side network, optimizer and schedule of one job.</summary>
/// <param name="JobId">The job (also the side trainer's key).</param>
/// <param name="Job">The job's spec.</param>
/// <param name="TotalSteps">The job's optimizer steps.</param>
/// <param name="TapCount">Taps (hidden states or projections) each micro-batch brings.</param>
/// <param name="MicroBatchesPerEpoch">For the data cursor stored in checkpoints (epoch, index within the epoch).</param>
/// <param name="ExpectedCheckpointStep">The newest checkpoint the job knows was committed (0 = none). A store without a
/// checkpoint at or after it is not the store that checkpoint went to (e.g. a directory per host instead of a shared
/// one): the side trainer refuses it rather than silently restarting from step 0.</param>
/// <param name="StageKeys">The pipeline's stage grains in order (lean taps: each holds the W_A slices of its layers).</param>
[GenerateSerializer, Immutable]
public sealed record SideSpec(
    [property: Id(0)] string JobId,
    [property: Id(1)] JobSpec Job,
    [property: Id(2)] int TotalSteps,
    [property: Id(3)] int TapCount,
    [property: Id(4)] int MicroBatchesPerEpoch = 0,
    [property: Id(5)] long ExpectedCheckpointStep = 0,
    [property: Id(6)] IReadOnlyList<string>? StageKeys = null);

/// <summary>The side trainer's counters. <see cref="Attempt"/> is −1 while it is not initialized (e.g. re-activated
/// after its silo died); <see cref="ResumedFrom"/> is the micro-batch its current initialization started at.</summary>
[GenerateSerializer, Immutable]
public sealed record SideStatus(
    [property: Id(0)] long Applied,
    [property: Id(1)] int Steps,
    [property: Id(2)] double ComputeSeconds,
    [property: Id(3)] double WaitSeconds,
    [property: Id(4)] double AliveSeconds,
    [property: Id(5)] string Silo,
    [property: Id(6)] int Attempt = -1,
    [property: Id(7)] long ResumedFrom = 0);

/// <summary>
/// Where an initialized side trainer stands: the optimizer step and the next micro-batch it expects. Both are 0 for a
/// fresh start; after a restore they are those of the checkpoint (<see cref="CheckpointStep"/>, null when none), and
/// <see cref="Losses"/> holds the losses of steps 1..Step saved with it (index = step − 1).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SidePosition(
    [property: Id(0)] int Step,
    [property: Id(1)] long NextMicroBatch,
    [property: Id(2)] long? CheckpointStep,
    [property: Id(3)] string CheckpointLocation,
    [property: Id(4)] IReadOnlyList<string> Warnings,
    [property: Id(5)] IReadOnlyList<float> Losses);

/// <summary>One committed checkpoint of a job, as <c>qst checkpoints</c> lists it.</summary>
[GenerateSerializer, Immutable]
public sealed record CheckpointInfo(
    [property: Id(0)] long Step,
    [property: Id(1)] DateTimeOffset CreatedUtc,
    [property: Id(2)] long Bytes,
    [property: Id(3)] bool IsLatest,
    [property: Id(4)] string Location);
