using System.Diagnostics;

namespace QstOrleans.Tests;

/// <summary>
/// Waits on conditions instead of fixed sleeps: polls until a condition holds, or fails with a message that says what
/// it waited for and what it last saw. The poll interval only bounds how soon a met condition is noticed; no test
/// result depends on it.
/// </summary>
public static class Eventually
{
    static readonly TimeSpan DefaultPoll = TimeSpan.FromMilliseconds(50);

    /// <summary>
    /// Polls <paramref name="probe"/> until <paramref name="done"/> holds for its value and returns that value.
    /// <paramref name="abort"/> (optional) returns a reason to stop early (the job failed, the process exited).
    /// </summary>
    /// <exception cref="TimeoutException">Not met within <paramref name="timeout"/>; names <paramref name="what"/> and the last value.</exception>
    /// <exception cref="InvalidOperationException"><paramref name="abort"/> gave a reason.</exception>
    public static async Task<T> WaitUntil<T>(string what, Func<Task<T>> probe, Func<T, bool> done, TimeSpan timeout,
        Func<T, string?>? abort = null, TimeSpan? poll = null)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await probe();
            if (done(value)) return value;
            if (abort?.Invoke(value) is { } why)
                throw new InvalidOperationException($"gave up waiting for {what}: {why} (last seen: {value})");
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"waited {timeout.TotalSeconds:F0} s for {what}; last seen: {value}");
            await Task.Delay(poll ?? DefaultPoll);
        }
    }

    /// <summary>Retries a call that races a dying or restarting silo (it can fail until the cluster notices) for up to a
    /// minute; assertion failures pass through.</summary>
    public static async Task<T> Retry<T>(Func<Task<T>> call)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            try { return await call(); }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException && DateTime.UtcNow < deadline)
            {
                await Task.Delay(250);
            }
        }
    }

    /// <summary>Polls a synchronous condition (a process exited, a log line appeared) until it holds.</summary>
    /// <exception cref="TimeoutException">Not met within <paramref name="timeout"/>; names <paramref name="what"/>.</exception>
    public static Task WaitUntil(string what, Func<bool> condition, TimeSpan timeout, Func<string>? describe = null) =>
        WaitUntil(what, () => Task.FromResult(describe?.Invoke() ?? ""), _ => condition(), timeout);

    /// <summary>
    /// Polls until <paramref name="key"/> of the probed value stays the same for <paramref name="polls"/> polls in a
    /// row while <paramref name="settled"/> holds (e.g. "paused, nothing in flight, step unchanged"), and returns the
    /// last value. This is the wait for "activity stopped": a system that keeps moving never satisfies it.
    /// </summary>
    /// <exception cref="TimeoutException">It never settled within <paramref name="timeout"/>.</exception>
    public static async Task<T> WaitUntilSteady<T, TKey>(string what, Func<Task<T>> probe, Func<T, TKey> key, Func<T, bool> settled,
        int polls, TimeSpan timeout, TimeSpan? poll = null)
    {
        var clock = Stopwatch.StartNew();
        int steady = 0;
        T value = await probe();
        while (true)
        {
            await Task.Delay(poll ?? DefaultPoll);
            var next = await probe();
            steady = settled(next) && EqualityComparer<TKey>.Default.Equals(key(next), key(value)) ? steady + 1 : 0;
            value = next;
            if (steady >= polls) return value;
            if (clock.Elapsed > timeout)
                throw new TimeoutException($"waited {timeout.TotalSeconds:F0} s for {what} to settle ({polls} unchanged polls); last seen: {value}");
        }
    }
}
