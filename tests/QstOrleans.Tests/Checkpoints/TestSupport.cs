using Microsoft.Extensions.Logging;
using QstOrleans.Storage.Blobs;

namespace QstOrleans.Tests.Checkpoints;

/// <summary>An ILogger that keeps (level, message) pairs, for asserting the fallback warnings.</summary>
public sealed class ListLogger : ILogger
{
    readonly List<(LogLevel Level, string Message)> _entries = [];

    public IReadOnlyList<(LogLevel Level, string Message)> Entries { get { lock (_entries) return [.. _entries]; } }
    public IEnumerable<string> Warnings => Entries.Where(e => e.Level == LogLevel.Warning).Select(e => e.Message);

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_entries) _entries.Add((logLevel, formatter(state, exception)));
    }
}

/// <summary>
/// Wraps a store and lets a test inject faults: <see cref="BeforePut"/> runs before each put (throw there to
/// simulate a crash at that blob, or act as a competing writer), and deletes can be made to fail (a writer that
/// dies cannot clean up after itself).
/// </summary>
public sealed class FaultyBlobStore(IBlobStore inner) : IBlobStore
{
    public Func<string, Task>? BeforePut { get; set; }
    public bool FailDeletes { get; set; }
    public string Location => inner.Location;

    public async Task<BlobProperties> PutAsync(string name, Stream content, BlobWriteCondition condition, CancellationToken cancellationToken = default)
    {
        if (BeforePut is { } hook) await hook(name);
        return await inner.PutAsync(name, content, condition, cancellationToken);
    }

    public Task<BlobProperties?> GetAsync(string name, Stream destination, CancellationToken cancellationToken = default) =>
        inner.GetAsync(name, destination, cancellationToken);

    public Task<IReadOnlyList<BlobItem>> ListAsync(string prefix, CancellationToken cancellationToken = default) => inner.ListAsync(prefix, cancellationToken);

    public Task<bool> DeleteAsync(string name, string? ifMatch = null, CancellationToken cancellationToken = default) =>
        FailDeletes ? throw new IOException($"injected: delete of {name} failed") : inner.DeleteAsync(name, ifMatch, cancellationToken);
}

/// <summary>A stream that yields <c>failAfter</c> bytes of pattern, then throws (a writer crashing mid-upload).</summary>
public sealed class FailingStream(long failAfter) : Stream
{
    long _position;
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => _position; set => throw new NotSupportedException(); }

    public override int Read(byte[] buffer, int offset, int count)
    {
        if (_position >= failAfter) throw new IOException($"injected: source failed after {failAfter} bytes");
        int n = (int)Math.Min(count, failAfter - _position);
        for (int i = 0; i < n; i++) buffer[offset + i] = (byte)(_position + i);
        _position += n;
        return n;
    }

    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
}
