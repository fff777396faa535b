using QstOrleans.Model.Layers;

namespace QstOrleans.Model.Generation;

/// <summary>
/// The decoding state of one sequence: a KV cache per backbone layer (grouped by stage) and, for QST, a
/// second KV cache per side layer (spec §8), all at the same position count. Owns its caches.
/// </summary>
public sealed class GenerationCache : IDisposable
{
    internal GenerationCache(IReadOnlyList<int> stageLayerCounts, int sideLayers, long capacity)
    {
        Backbone = stageLayerCounts.Select(n => (IReadOnlyList<KvCache>)Enumerable.Range(0, n).Select(_ => new KvCache(capacity)).ToArray()).ToArray();
        Side = sideLayers > 0 ? Enumerable.Range(0, sideLayers).Select(_ => new KvCache(capacity)).ToArray() : null;
    }

    /// <summary>Per stage, one cache per backbone layer.</summary>
    public IReadOnlyList<IReadOnlyList<KvCache>> Backbone { get; }
    /// <summary>One cache per QST side layer; null for a plain backbone.</summary>
    public IReadOnlyList<KvCache>? Side { get; }
    /// <summary>T_past: positions already consumed (the next token's position).</summary>
    public long Length { get; internal set; }

    /// <summary>Forgets every position (keeps the storage).</summary>
    public void Clear()
    {
        foreach (var c in AllCaches()) c.Clear();
        Length = 0;
    }

    IEnumerable<KvCache> AllCaches() => Backbone.SelectMany(s => s).Concat(Side ?? []);

    public void Dispose()
    {
        foreach (var c in AllCaches()) c.Dispose();
    }
}
