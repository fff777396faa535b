namespace QstOrleans.Grains.Jobs.Clients;

/// <summary>
/// The recent events of one job activation, for the clients watching it (<see cref="TrainingJobGrain.Watch"/>): an
/// append-only log with sequence numbers (the oldest half dropped past <see cref="Capacity"/>) and a signal each append
/// completes. Watchers keep their own cursor, so the hub holds no per-client state and an abandoned watch leaks nothing.
/// Steps are published once each: a step replayed after a recovery (bitwise the same, training is deterministic) is not.
/// State changes are detected from the <see cref="JobRecord"/> at each persist, so every state transition is covered by
/// the one hook in <c>TrainingJobGrain.Persist</c>.
/// </summary>
/// <remarks>Threading: not thread-safe; the job grain calls it from its turns only (watches run interleaved on the same scheduler).</remarks>
internal sealed class JobEventHub(JobRecord activated)
{
    /// <summary>Events kept for watchers that fall behind; one watching client reads them within milliseconds.</summary>
    public const int Capacity = 4096;

    readonly List<JobEvent> _log = [];
    TaskCompletionSource _changed = NewSignal();
    int _lastStep = Math.Max(activated.Step, activated.LossCount);
    int _recoveriesPublished = activated.Recoveries.Count(r => r.ResumedFromStep >= 0);
    int _lastCheckpoint = activated.CheckpointStep;
    JobStateChanged? _lastState;

    /// <summary>Sequence number of the oldest event kept.</summary>
    public long First { get; private set; }
    /// <summary>Sequence number the next event will get.</summary>
    public long End => First + _log.Count;
    /// <summary>The event with sequence number <paramref name="sequence"/> (between <see cref="First"/> and <see cref="End"/>).</summary>
    public JobEvent this[long sequence] => _log[(int)(sequence - First)];
    /// <summary>Completes at the next append.</summary>
    public Task Changed => _changed.Task;

    /// <summary>A step completed; published unless it was already (a replay after a recovery).</summary>
    public void StepCompleted(JobStepCompleted step)
    {
        if (step.Step <= _lastStep) return;
        _lastStep = step.Step;
        Publish(step);
    }

    /// <summary>Publishes what changed in <paramref name="record"/> since the last call: resumed recoveries, a newer checkpoint, the state.</summary>
    public void Observe(JobRecord record, int inFlight)
    {
        for (; _recoveriesPublished < record.Recoveries.Count && record.Recoveries[_recoveriesPublished].ResumedFromStep >= 0; _recoveriesPublished++)
            Publish(new JobRecovered(record.Recoveries[_recoveriesPublished]));
        if (record.CheckpointStep > _lastCheckpoint)
        {
            _lastCheckpoint = record.CheckpointStep;
            Publish(new JobCheckpointCommitted(record.CheckpointStep));
        }
        var state = StateOf(record, inFlight);
        // In-flight counts matter only as far as quiescence: a paused job publishes the moment its last micro-batch lands.
        if (_lastState is { } last && last with { Step = state.Step, InFlight = state.InFlight } == state && last.IsQuiescent == state.IsQuiescent) return;
        _lastState = state;
        Publish(state);
    }

    /// <summary>The job's state as an event (the first one a watch sends).</summary>
    public static JobStateChanged StateOf(JobRecord record, int inFlight) =>
        new(record.State, record.Step, record.TotalSteps, record.Attempt, record.Message, record.Error, inFlight);

    void Publish(JobEvent e)
    {
        _log.Add(e);
        if (_log.Count > Capacity)
        {
            _log.RemoveRange(0, Capacity / 2);
            First += Capacity / 2;
        }
        var changed = _changed;
        _changed = NewSignal();
        changed.TrySetResult();
    }

    static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
