namespace QstOrleans.Grains.Jobs.Pipeline;

/// <summary>
/// Feeds the micro-batches of one pipeline attempt with at most <c>window</c> in flight: a credit is taken before each
/// micro-batch is sent and given back by <see cref="Applied"/> when the side trainer reports it applied. The backbone
/// is frozen, so the window never drains between optimizer steps: micro-batch m+1 runs while m is applied.
/// A feeder serves one attempt only: <see cref="Stop"/> ends it for good, and a recovery makes a new one with fresh credits.
/// </summary>
/// <remarks>
/// Threading: the job grain starts <see cref="RunAsync"/> inside one of its turns, so the loop's continuations run on
/// the grain's scheduler, interleaved with the grain's calls at each await. The in-flight map is still guarded by a
/// lock, so the class is correct on any scheduler (its unit tests run without a cluster).
/// </remarks>
public sealed class PipelineFeeder(int window, PauseGate gate, TimeProvider? time = null)
{
    public int Window { get; } = window >= 1 ? window : throw new ArgumentOutOfRangeException(nameof(window), window, "window must be >= 1");

    readonly SemaphoreSlim _credits = new(window);
    readonly CancellationTokenSource _stop = new();
    readonly Dictionary<long, int> _inFlight = [];   // sequence → tokens (0 until its send returned)
    readonly TimeProvider _time = time ?? TimeProvider.System;
    readonly object _lock = new();
    long _tokensApplied;
    DateTimeOffset _lastProgress = (time ?? TimeProvider.System).GetUtcNow();

    /// <summary>Micro-batches sent and not yet reported applied.</summary>
    public int InFlight { get { lock (_lock) return _inFlight.Count; } }

    /// <summary>Tokens of the micro-batches this attempt has applied.</summary>
    public long TokensApplied { get { lock (_lock) return _tokensApplied; } }

    /// <summary>When the feeder started or last saw a micro-batch applied (the watchdog's stall clock).</summary>
    public DateTimeOffset LastProgress { get { lock (_lock) return _lastProgress; } }

    public bool IsStopped => _stop.IsCancellationRequested;

    /// <summary>The pipeline is busy without applying micro-batches (the side trainer evaluating between steps): restarts
    /// the stall clock, so a long evaluation is not taken for a stall.</summary>
    public void Alive()
    {
        lock (_lock) _lastProgress = _time.GetUtcNow();
    }

    /// <summary>
    /// Sends micro-batches [<paramref name="from"/>, <paramref name="end"/>) through <paramref name="send"/> (which returns
    /// the micro-batch's token count). Completes when all are sent or the feeder is stopped; a failed send is thrown.
    /// </summary>
    public async Task RunAsync(long from, long end, Func<long, Task<int>> send)
    {
        try
        {
            for (long sequence = from; sequence < end; sequence++)
            {
                await _credits.WaitAsync(_stop.Token);
                await gate.WaitAsync(_stop.Token);
                // In flight before the send: the side trainer may report it applied before the send returns.
                lock (_lock) _inFlight[sequence] = 0;
                int tokens = await send(sequence);
                lock (_lock)
                {
                    if (_inFlight.ContainsKey(sequence)) _inFlight[sequence] = tokens;
                    else
                    {
                        _tokensApplied += tokens;   // applied before its send returned
                        Telemetry.QstMeters.Tokens.Add(tokens);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
    }

    /// <summary>
    /// Micro-batch <paramref name="sequence"/> was applied: its credit goes back. A sequence this feeder has not sent
    /// (a duplicate report) returns false and gives back nothing, so the window can never grow.
    /// </summary>
    public bool Applied(long sequence)
    {
        lock (_lock)
        {
            if (!_inFlight.Remove(sequence, out int tokens)) return false;
            _tokensApplied += tokens;
            if (tokens > 0) Telemetry.QstMeters.Tokens.Add(tokens);   // 0: the send has not returned yet; counted there
            _lastProgress = _time.GetUtcNow();
        }
        _credits.Release();
        return true;
    }

    /// <summary>Ends <see cref="RunAsync"/> at its next wait; micro-batches already sent are left to the fencing by attempt.</summary>
    public void Stop() => _stop.Cancel();
}
