using System.Collections.Concurrent;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using QstOrleans.Contracts.Grains;

namespace QstOrleans.Silo.Http;

/// <summary>What the job page reads from <c>GET /jobs/{id}/status</c>: the job's progress, where its stages run, its checkpoints.</summary>
/// <param name="Losses">Per-step losses, index = step − 1 (null where a loss is not a number).</param>
public sealed record JobPageStatus(string JobId, string State, int Step, int TotalSteps, int Epoch, double? Loss, double TokensPerSecond,
    int Attempt, int LastCheckpointStep, int Recoveries, string? Message, string? JobSilo, string? SideSilo, IReadOnlyList<double?> Losses,
    IReadOnlyList<JobPageStage> Stages, IReadOnlyList<JobPageCheckpoint> Checkpoints);

/// <summary>One stage of the running pipeline: its grain key, the device slot, the slot's silo and device, its busy fraction.</summary>
public sealed record JobPageStage(string Stage, string Slot, string Silo, string Device, double Busy);

/// <summary>One committed checkpoint of the job.</summary>
public sealed record JobPageCheckpoint(long Step, DateTimeOffset CreatedUtc, long Bytes, bool Latest, string Location);

/// <summary>
/// The job pages on the silo's HTTP port: <c>GET /jobs</c> (the cluster's job ids, JSON), <c>GET /jobs/{id}</c> (one static
/// HTML page: loss curve, step rate, stages and where they run, checkpoints; it polls the next endpoint) and
/// <c>GET /jobs/{id}/status</c> (<see cref="JobPageStatus"/> as JSON). Any silo serves any job: it asks the job grain.
/// </summary>
public static class JobPages
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };
    static readonly Lazy<string> Html = new(() =>
    {
        using var stream = typeof(JobPages).Assembly.GetManifestResourceStream("QstOrleans.Silo.Http.JobPage.html")
            ?? throw new InvalidOperationException("JobPage.html is not embedded in the silo assembly");
        return new StreamReader(stream).ReadToEnd();
    });

    public static void MapJobPages(this WebApplication app, IServiceProvider silo)
    {
        var grains = silo.GetRequiredService<IGrainFactory>();
        // Checkpoint listings read the store: refreshed only when the job reports a newer checkpoint (the page polls each second).
        var checkpoints = new ConcurrentDictionary<string, (int Step, IReadOnlyList<JobPageCheckpoint> List)>();

        app.MapGet("/jobs", async () => Results.Json(await grains.GetGrain<IJobRegistryGrain>(0).List(), Json));
        app.MapGet("/jobs/{id}", async (string id) =>
            await Exists(grains, id) ? Results.Content(Html.Value, "text/html; charset=utf-8") : NotFound(id));
        app.MapGet("/jobs/{id}/status", async (string id) =>
        {
            if (!await Exists(grains, id)) return NotFound(id);
            var job = grains.GetGrain<ITrainingJobGrain>(id);
            var progress = await job.GetProgress();
            var slots = (await grains.GetGrain<IClusterSlotsGrain>(0).List()).ToDictionary(s => s.Id);
            var stages = progress.Placement.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => new JobPageStage(p.Key, p.Value,
                slots.TryGetValue(p.Value, out var slot) ? slot.Silo : "?", slot?.Device ?? "?",
                progress.StageUtilisation.GetValueOrDefault(p.Key))).ToList();
            if (!checkpoints.TryGetValue(id, out var known) || known.Step != progress.LastCheckpointStep)
            {
                var list = (await job.ListCheckpoints()).Select(c => new JobPageCheckpoint(c.Step, c.CreatedUtc, c.Bytes, c.IsLatest, c.Location)).ToList();
                checkpoints[id] = known = (progress.LastCheckpointStep, list);
            }
            return Results.Json(new JobPageStatus(progress.JobId, progress.State.ToString(), progress.Step, progress.TotalSteps, progress.Epoch,
                Number(progress.Loss), progress.TokensPerSecond, progress.Attempt, progress.LastCheckpointStep, progress.Recoveries.Count,
                progress.Message, progress.JobSilo, progress.SideSilo, progress.Losses.Select(Number).ToList(), stages, known.List), Json);
        });
    }

    // A job grain activates for any key: only registered ids are jobs (an unknown id must not create a phantom job).
    static async Task<bool> Exists(IGrainFactory grains, string id) => (await grains.GetGrain<IJobRegistryGrain>(0).List()).Contains(id);

    static IResult NotFound(string id) => Results.Json(new { error = $"no job '{id}' in this cluster" }, Json, statusCode: StatusCodes.Status404NotFound);

    // JSON has no NaN: a loss that is not a number (no step yet) is null.
    static double? Number(float value) => float.IsFinite(value) ? value : null;
}
