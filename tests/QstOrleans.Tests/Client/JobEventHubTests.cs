using QstOrleans.Grains.Jobs;
using QstOrleans.Grains.Jobs.Clients;

namespace QstOrleans.Tests.Client;

/// <summary>The job's event log: steps published once (a replay after a recovery is not), recoveries once resumed, state changes once.</summary>
public sealed class JobEventHubTests
{
    static JobStepCompleted Step(int step, float loss) => new(step, 10, 0, loss, 1e-3, null, null, 0);

    [Fact]
    public void ARecoveryIsPublishedOnceResumedAndReplayedStepsAreNotRepeated()
    {
        var record = new JobRecord { Spec = null, State = JobState.Running, TotalSteps = 10 };
        var hub = new JobEventHub(record);
        hub.Observe(record, inFlight: 2);
        hub.StepCompleted(Step(1, 5f));
        hub.StepCompleted(Step(2, 4f));
        hub.StepCompleted(Step(3, 3f));

        // A fault: the recovery record is written first without a resume step (not published yet) ...
        record.Attempt = 1;
        record.Recoveries.Add(new RecoveryRecord(1, "silo died", DateTimeOffset.UnixEpoch, -1, null));
        long beforeResume = hub.End;
        hub.Observe(record, inFlight: 0);
        Assert.DoesNotContain(Events(hub, beforeResume), e => e is JobRecovered);
        // ... then resumed from checkpoint step 2: replayed step 3 is not published again, step 4 is.
        record.Recoveries[^1] = record.Recoveries[^1] with { ResumedFromStep = 2 };
        record.Message = "recovered";
        hub.Observe(record, inFlight: 0);
        hub.StepCompleted(Step(3, 3f));
        hub.StepCompleted(Step(4, 2f));

        var all = Events(hub, hub.First);
        Assert.Equal([1, 2, 3, 4], all.OfType<JobStepCompleted>().Select(s => s.Step));
        Assert.Equal(2, Assert.Single(all.OfType<JobRecovered>()).Recovery.ResumedFromStep);
        // State events: the start, the new attempt, the recovered message.
        Assert.Equal([(0, ""), (1, ""), (1, "recovered")], all.OfType<JobStateChanged>().Select(s => (s.Attempt, s.Message ?? "")));
    }

    [Fact]
    public void APausedJobPublishesOnceWhenItsLastMicroBatchLands()
    {
        var record = new JobRecord { State = JobState.Paused, TotalSteps = 10 };
        var hub = new JobEventHub(record);
        hub.Observe(record, inFlight: 3);
        hub.Observe(record, inFlight: 2);   // still draining: nothing new
        var changed = hub.Changed;
        hub.Observe(record, inFlight: 0);
        Assert.True(changed.IsCompleted);
        var states = Events(hub, hub.First).OfType<JobStateChanged>().ToList();
        Assert.Equal([false, true], states.Select(s => s.IsQuiescent));
    }

    [Fact]
    public void SpecDifferencesListEachDifferingFieldWithBothValues()
    {
        var a = new JobSpec { ModelDirectory = "/m", DataFile = "/d.jsonl", Epochs = 2, Stages = 2 };
        Assert.Empty(SpecDifferences.Between(a, a with { }));
        Assert.Equal(["DataFile: \"/d.jsonl\" → \"/e.jsonl\"", "Config.Schedule.Epochs: 2 → 3", "Config.Pipeline.Stages: 2 → 1"],
            SpecDifferences.Between(a, a with { DataFile = "/e.jsonl", Epochs = 3, Stages = 1 }));
    }

    static List<JobEvent> Events(JobEventHub hub, long from)
    {
        var events = new List<JobEvent>();
        for (long i = from; i < hub.End; i++) events.Add(hub[i]);
        return events;
    }
}
