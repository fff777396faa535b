namespace QstOrleans.Grains.Jobs.Planning;

/// <summary>
/// The silo's most recently used job plans (their tokenized data), at most <see cref="Capacity"/>, least recently used
/// evicted first. Holds the planning task itself, so concurrent plans of one key share a single tokenization; a failed
/// plan is dropped, so the next request tries again (and reports the error again). Thread-safe: job grains on any
/// thread use it.
/// </summary>
public sealed class JobPlanCache(int capacity = JobPlanCache.DefaultCapacity)
{
    public const int DefaultCapacity = 4;
    readonly LinkedList<(string Key, Task<JobPlan> Plan)> _entries = [];   // most recent first
    readonly object _lock = new();

    public int Capacity { get; } = capacity >= 1 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "must be >= 1");

    public int Count { get { lock (_lock) return _entries.Count; } }

    /// <summary>The cached plan of <paramref name="key"/>, or the one <paramref name="build"/> starts (called at most once per miss).</summary>
    public Task<JobPlan> GetOrAdd(string key, Func<Task<JobPlan>> build)
    {
        Task<JobPlan> plan;
        lock (_lock)
        {
            for (var node = _entries.First; node is not null; node = node.Next)
            {
                if (node.Value.Key != key) continue;
                _entries.Remove(node);
                if (node.Value.Plan.IsFaulted || node.Value.Plan.IsCanceled) break;   // failed: plan again
                _entries.AddFirst(node);
                return node.Value.Plan;
            }
            plan = build();
            _entries.AddFirst((key, plan));
            while (_entries.Count > Capacity) _entries.RemoveLast();
        }
        _ = plan.ContinueWith(t => Forget(key, t), CancellationToken.None, TaskContinuationOptions.NotOnRanToCompletion, TaskScheduler.Default);
        return plan;
    }

    /// <summary>Drops every plan: the next request plans again (reading the token cache, not re-tokenizing).</summary>
    public void Clear()
    {
        lock (_lock) _entries.Clear();
    }

    void Forget(string key, Task<JobPlan> failed)
    {
        lock (_lock)
        {
            for (var node = _entries.First; node is not null; node = node.Next)
            {
                if (node.Value.Key != key || node.Value.Plan != failed) continue;
                _entries.Remove(node);
                return;
            }
        }
    }
}
