using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace QstOrleans.Data.Datasets.Cache;

/// <summary>
/// Tokenizes records on every core: chunks of consecutive records are tokenized independently
/// (<see cref="InstructionBatches.Tokenize"/>, the serial code) and joined in chunk order, so the examples, their
/// order, the truncation count and the dropped list are exactly the serial ones whatever the thread count.
/// </summary>
internal static class ParallelTokenizer
{
    /// <summary>Tokenizes <paramref name="records"/>; the first error (in record order) is rethrown as it was raised.</summary>
    public static TokenizationReport Tokenize(IReadOnlyList<DatasetRecord> records, SegmentCollator collator, DataOptions options,
        TokenCacheOptions cache, string dataFile)
    {
        int chunks = (records.Count + cache.ChunkSize - 1) / cache.ChunkSize;
        var reports = new TokenizationReport?[chunks];
        var errors = new Exception?[chunks];
        var clock = Stopwatch.StartNew();
        long done = 0, lastReport = 0;
        var gate = new object();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = cache.MaxDegreeOfParallelism == 0 ? -1 : cache.MaxDegreeOfParallelism };
        Parallel.For(0, chunks, parallel, (c, state) =>
        {
            int from = c * cache.ChunkSize, to = Math.Min(records.Count, from + cache.ChunkSize);
            try
            {
                reports[c] = InstructionBatches.Tokenize(Slice(records, from, to), collator, options);
            }
            catch (Exception e)
            {
                errors[c] = e;
                state.Break();                                                   // chunks before c still run, so the first error wins
                return;
            }
            long now = Interlocked.Add(ref done, to - from);
            if (cache.Report is { } report && clock.ElapsedMilliseconds - Interlocked.Read(ref lastReport) >= 250)
                lock (gate)
                {
                    Interlocked.Exchange(ref lastReport, clock.ElapsedMilliseconds);
                    report(new TokenCacheProgress(dataFile, now, records.Count, clock.Elapsed));
                }
        });
        if (errors.FirstOrDefault(e => e is not null) is { } first) ExceptionDispatchInfo.Throw(first);

        var examples = new List<TokenizedExample>(records.Count);
        var dropped = new List<DroppedRecord>();
        int truncated = 0;
        foreach (var r in reports)
        {
            examples.AddRange(r!.Examples);
            dropped.AddRange(r.Dropped);
            truncated += r.Truncated;
        }
        return new TokenizationReport(examples, truncated, dropped);
    }

    static IEnumerable<DatasetRecord> Slice(IReadOnlyList<DatasetRecord> records, int from, int to)
    {
        for (int i = from; i < to; i++) yield return records[i];
    }
}
