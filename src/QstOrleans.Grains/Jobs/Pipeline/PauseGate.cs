namespace QstOrleans.Grains.Jobs.Pipeline;

/// <summary>
/// The pause switch of a job: feeders wait on it before each micro-batch. It outlives pipeline attempts (a job paused
/// during a recovery stays paused in the new attempt). Opening a closed gate releases every waiter at once.
/// </summary>
public sealed class PauseGate
{
    TaskCompletionSource _open = Opened();

    public bool IsPaused => !_open.Task.IsCompleted;

    public void Close()
    {
        if (!IsPaused) _open = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    public void Open() => _open.TrySetResult();

    public Task WaitAsync(CancellationToken cancel) => _open.Task.WaitAsync(cancel);

    static TaskCompletionSource Opened()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }
}
