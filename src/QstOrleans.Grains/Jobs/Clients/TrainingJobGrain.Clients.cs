using System.Runtime.CompilerServices;
using QstOrleans.Grains.Jobs.Clients;

namespace QstOrleans.Grains.Jobs;

/// <summary>The job grain's client-facing calls beyond start and control: identity checks, submit outcomes, pushed events.</summary>
public sealed partial class TrainingJobGrain
{
    /// <summary>The job's record; <see cref="JobNotFoundException"/> when no job was ever submitted under this id.</summary>
    internal JobRecord Known => Record.Spec is not null ? Record : throw new JobNotFoundException(JobId);

    public async Task<JobSubmission> Submit(JobSpec spec)
    {
        if (Record.Spec is not { } existing || JobIds.Problem(JobId) is not null)
        {
            var started = await Start(spec);
            return new JobSubmission(started.State == JobState.Failed ? SubmitOutcome.Rejected : SubmitOutcome.Started, started);
        }
        if (SpecDifferences.Between(existing, spec) is { Count: > 0 } differences) throw new JobSpecConflictException(JobId, differences);
        bool finished = Record.IsFinished;
        var progress = await Start(spec);   // an unfinished job whose pipeline is gone is recovered
        return new JobSubmission(finished ? SubmitOutcome.AlreadyFinished : SubmitOutcome.AlreadySubmitted, progress);
    }

    public async Task<int> RequestCheckpoint()
    {
        var record = Known;   // an unknown id throws
        int before = record.CheckpointStep;
        // Only a running pipeline can cut one; the side trainer ignores a request of another attempt.
        if (!record.IsFinished && record.State == JobState.Running && Run is { } run)
            await GrainFactory.GetGrain<ISideTrainerGrain>(JobId).RequestCheckpoint(run.Attempt);
        return before;
    }

    public Task<IReadOnlyList<float>> GetLosses(int fromStep)
    {
        _ = Known;   // an unknown id throws
        return Task.FromResult(_progress.Losses.Read(fromStep));
    }

    /// <summary>
    /// Runs interleaved with the grain's other calls (Orleans' enumeration calls always interleave), so it only reads the
    /// record and the hub between awaits. The backlog and the hub cursor are taken in one synchronous step: nothing is
    /// missed or sent twice between them. When the silo stops, the wait for the next event ends with an
    /// <see cref="OrleansException"/> (the client watches again where it left off, on the grain's next activation): a
    /// waiting enumeration call is a running call, and Orleans starts deactivating the grain only once none runs.
    /// </summary>
    public async IAsyncEnumerable<JobEvent> Watch(int afterStep, int afterRecoveries)
    {
        var record = Known;
        var hub = _progress.Events;
        var backlog = new List<JobEvent>();
        backlog.AddRange(record.Recoveries.Skip(Math.Max(afterRecoveries, 0)).Where(r => r.ResumedFromStep >= 0).Select(r => new JobRecovered(r)));
        backlog.AddRange(_progress.History(Math.Max(afterStep, 0), record, Run?.Plan));
        backlog.Add(JobEventHub.StateOf(record, Run?.Feeder.InFlight ?? 0));
        long cursor = hub.End;
        int lastStep = afterStep;
        foreach (var e in backlog)
        {
            if (e is JobStepCompleted s) lastStep = s.Step;
            yield return e;
        }
        if (record.IsFinished) yield break;
        while (true)
        {
            cursor = Math.Max(cursor, hub.First);   // a watcher more than Capacity events behind skips the oldest
            for (; cursor < hub.End; cursor++)
            {
                var e = hub[cursor];
                if (e is JobStepCompleted s)
                {
                    if (s.Step <= lastStep) continue;
                    lastStep = s.Step;
                }
                yield return e;
                if (e is JobStateChanged { IsFinished: true }) yield break;
            }
            try
            {
                await hub.Changed.WaitAsync(Stopping.Token);
            }
            catch (OperationCanceledException) when (Stopping.IsStopping)
            {
                throw new OrleansException($"silo {silo.SiloName} is stopping: watch job '{JobId}' again");
            }
        }
    }
}
