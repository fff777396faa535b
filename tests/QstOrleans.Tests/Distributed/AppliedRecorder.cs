using System.Collections.Concurrent;
using QstOrleans.Contracts.Grains;

namespace QstOrleans.Tests.Distributed;

/// <summary>
/// Records every <see cref="ITrainingJobGrain.MicroBatchApplied"/> call a job grain receives, by (job, attempt,
/// sequence): an observation of the side trainer from outside the code under test, to count how often each micro-batch
/// was applied in each attempt.
/// </summary>
public sealed class AppliedRecorder : IIncomingGrainCallFilter
{
    static readonly ConcurrentDictionary<(string Job, int Attempt, long Sequence), int> Calls = new();

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.InterfaceMethod?.Name == nameof(ITrainingJobGrain.MicroBatchApplied) && context.InterfaceMethod.DeclaringType == typeof(ITrainingJobGrain))
        {
            int attempt = (int)context.Request.GetArgument(0)!;
            long sequence = (long)context.Request.GetArgument(1)!;
            Calls.AddOrUpdate((context.TargetId.Key.ToString()!, attempt, sequence), 1, (_, n) => n + 1);
        }
        await context.Invoke();
    }

    /// <summary>Sequence → how many times it was reported applied, for one job and attempt.</summary>
    public static IReadOnlyDictionary<long, int> For(string job, int attempt) =>
        Calls.Where(kv => kv.Key.Job == job && kv.Key.Attempt == attempt).ToDictionary(kv => kv.Key.Sequence, kv => kv.Value);
}
