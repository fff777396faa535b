using QstOrleans.Grains.Side;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Storage.Checkpoints;

namespace QstOrleans.Grains.Results;

/// <summary>
/// Writes a job's result: the side network's export (<see cref="SideNetworkExport.WeightsFile"/> +
/// <see cref="SideNetworkExport.ConfigFile"/>, the files <c>train-local --out</c> writes) committed as step
/// <c>TotalSteps</c> of the job's result store, <c>jobs/{id}/result</c> beside its checkpoints (<see cref="ResultsOf"/>):
/// create-only, with a manifest of sizes and SHA-256 like a checkpoint, so it survives cluster restarts and a download
/// can verify every file. The side trainer's worker calls it at the last step, before the job hears of that step.
/// </summary>
internal static class JobResultWriter
{
    /// <summary>The result store's folder under the job's checkpoint prefix.</summary>
    public const string Folder = "result";

    /// <summary>The files a result holds.</summary>
    public static readonly IReadOnlyList<string> Files = [SideNetworkExport.WeightsFile, SideNetworkExport.ConfigFile];

    /// <summary>The result store of the job whose checkpoints are <paramref name="checkpoints"/>.</summary>
    public static CheckpointStore ResultsOf(CheckpointStore checkpoints) => checkpoints.Nested(Folder);

    /// <summary>Exports <paramref name="core"/>'s side network and commits it as result <paramref name="step"/>.</summary>
    /// <remarks>A result already committed for that step (by an earlier attempt: equal by determinism) is kept; one that
    /// lacks a file is an <see cref="InvalidDataException"/> naming the store. Transport errors of the store propagate.</remarks>
    public static async Task<CheckpointManifest> CommitAsync(SideTrainerCore core, CheckpointStore results, int step)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"qst-side-result-{Guid.NewGuid():N}");
        try
        {
            core.Export(folder);
            try
            {
                return await results.CommitAsync(step, CheckpointPart.FromDirectory(folder));
            }
            catch (CheckpointConflictException)
            {
                // Another attempt got there first; anything but a complete result of this very step is a real conflict.
            }
            var existing = await results.ReadManifestAsync(step);
            if (existing is null || Files.Any(f => existing.Find(f) is null))
                throw new InvalidDataException($"{results.Location}: a result of step {step} could not be committed and the one stored " +
                                               $"there lacks {string.Join(" or ", Files)}; remove that folder and resume the job");
            return existing;
        }
        finally
        {
            try { if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }
}
