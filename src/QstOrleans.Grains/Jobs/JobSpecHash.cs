using System.Security.Cryptography;
using System.Text.Json;

namespace QstOrleans.Grains.Jobs;

/// <summary>
/// Fingerprints of a job spec. <see cref="OfTraining"/> covers what decides the trained weights (model, data, schedule,
/// batch shape, seed, QST config, precision: the spec's TrainingConfig), not how the run is laid out (stages, window, checkpoint
/// interval, the runtime section): a checkpoint may be resumed on another split, never under another training spec. <see cref="OfRequest"/> covers
/// everything, for ids derived from a command line (<c>qst train --local</c>).
/// </summary>
public static class JobSpecHash
{
    public static string OfTraining(JobSpec spec) =>
        // Layout sections replaced by constants; the runtime section too: the silos' slots decide device and threads. The
        // evaluation files only measure (evaluation.val_fraction, which decides the training examples, stays in).
        Hash(spec with { ValidationFile = null, MmluFile = null, Config = spec.Config with { Pipeline = new(), Checkpoint = new(), Runtime = new() } });

    public static string OfRequest(JobSpec spec) => Hash(spec);

    static string Hash(JobSpec spec)
    {
        // System.Text.Json writes numbers culture-invariantly and properties in declaration order: a stable text.
        byte[] json = JsonSerializer.SerializeToUtf8Bytes(spec);
        return Convert.ToHexString(SHA256.HashData(json))[..16].ToLowerInvariant();
    }
}
