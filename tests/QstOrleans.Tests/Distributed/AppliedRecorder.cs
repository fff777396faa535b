using System.Collections.Concurrent;

namespace QstOrleans.Tests.Distributed;

/// <summary>
/// Records every <see cref="ITrainingJobGrain.MicroBatchApplied"/> call a job grain receives and every
/// <see cref="ISideTrainerGrain.SubmitBatch"/> call a side trainer receives, by (job, attempt, sequence): an observation
/// of the pipeline from outside the code under test, to count how often each micro-batch was applied in each attempt
/// and how many fed micro-batches are still in flight (submitted, not yet reported applied).
/// </summary>
public sealed class AppliedRecorder : IIncomingGrainCallFilter
{
    static readonly ConcurrentDictionary<(string Job, int Attempt, long Sequence), int> Calls = new();
    static readonly ConcurrentDictionary<(string Job, int Attempt, long Sequence), int> Submits = new();

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.InterfaceMethod?.Name == nameof(ITrainingJobGrain.MicroBatchApplied) && context.InterfaceMethod.DeclaringType == typeof(ITrainingJobGrain))
        {
            int attempt = (int)context.Request.GetArgument(0)!;
            long sequence = (long)context.Request.GetArgument(1)!;
            Calls.AddOrUpdate((context.TargetId.Key.ToString()!, attempt, sequence), 1, (_, n) => n + 1);
        }
        else if (context.InterfaceMethod?.Name == nameof(ISideTrainerGrain.SubmitBatch) && context.InterfaceMethod.DeclaringType == typeof(ISideTrainerGrain))
        {
            var batch = (SideBatch)context.Request.GetArgument(0)!;
            Submits.AddOrUpdate((context.TargetId.Key.ToString()!, batch.Attempt, batch.Sequence), 1, (_, n) => n + 1);
        }
        await context.Invoke();
    }

    /// <summary>Sequence → how many times it was reported applied, for one job and attempt.</summary>
    public static IReadOnlyDictionary<long, int> For(string job, int attempt) =>
        Calls.Where(kv => kv.Key.Job == job && kv.Key.Attempt == attempt).ToDictionary(kv => kv.Key.Sequence, kv => kv.Value);

    /// <summary>Sequence → how many times the job fed it to its side trainer, for one job and attempt.</summary>
    public static IReadOnlyDictionary<long, int> SubmittedFor(string job, int attempt) =>
        Submits.Where(kv => kv.Key.Job == job && kv.Key.Attempt == attempt).ToDictionary(kv => kv.Key.Sequence, kv => kv.Value);

    /// <summary>What one job's attempt has fed and had applied so far; <see cref="Pipeline.InFlight"/> = fed, not yet applied.</summary>
    public static Pipeline Observe(string job, int attempt)
    {
        var applied = For(job, attempt);
        var submitted = SubmittedFor(job, attempt);
        return new Pipeline(submitted.Count, applied.Count, submitted.Keys.Count(s => !applied.ContainsKey(s)));
    }

    /// <summary>Micro-batches fed to the side trainer, reported applied, and in flight (fed, not reported applied).</summary>
    public readonly record struct Pipeline(int Submitted, int Applied, int InFlight);
}
