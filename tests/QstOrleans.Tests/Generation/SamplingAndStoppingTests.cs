using QstOrleans.Model.Generation;
using QstOrleans.Model.Layers;
using QstOrleans.Tests.Engine;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Generation;

/// <summary>
/// The sampler against a distribution computed here (softmax with temperature, nucleus by hand); stop
/// conditions (EOS, max new tokens, context full); the cached-step attention context and the KV cache
/// against their definitions.
/// </summary>
public sealed class SamplingAndStoppingTests
{
    static readonly float[] Logits = [2.0f, 1.5f, 0.3f, -1.0f, 1.9f, 0.0f, -0.5f, 1.0f, -2.0f, 0.7f];

    /// <summary>softmax(logits / T) by hand, then the nucleus: most probable first until the mass reaches top-p.</summary>
    static Dictionary<int, double> Nucleus(double temperature, double topP)
    {
        var e = Logits.Select(x => Math.Exp(x / temperature)).ToArray();
        double z = e.Sum();
        var sorted = Enumerable.Range(0, e.Length).OrderByDescending(i => e[i]).ToArray();
        var kept = new Dictionary<int, double>();
        double mass = 0;
        foreach (int i in sorted)
        {
            if (mass >= topP) break;
            kept[i] = e[i] / z;
            mass += e[i] / z;
        }
        return kept.ToDictionary(kv => kv.Key, kv => kv.Value / mass);   // renormalised
    }

    [Theory]
    [InlineData(0.7, 0.8)]
    [InlineData(1.5, 0.5)]
    [InlineData(1.0, 1.0)]
    public void SamplesOnlyInsideTheNucleusWithItsProbabilities(double temperature, double topP)
    {
        var expected = Nucleus(temperature, topP);
        var sampler = new TokenSampler(temperature, topP, seed: 17);
        const int draws = 20000;
        var counts = new Dictionary<int, int>();
        for (int i = 0; i < draws; i++)
        {
            int t = sampler.Sample(Logits);
            Assert.True(expected.ContainsKey(t), $"token {t} is outside the nucleus {{{string.Join(", ", expected.Keys)}}}");
            counts[t] = counts.GetValueOrDefault(t) + 1;
        }
        // 20k draws: the standard error of a frequency is at most 0.0036; 0.015 is > 4 sigma.
        foreach (var (token, p) in expected)
            Assert.True(Math.Abs(counts.GetValueOrDefault(token) / (double)draws - p) < 0.015,
                $"token {token}: frequency {counts.GetValueOrDefault(token) / (double)draws:F4}, expected {p:F4}");
    }

    [Fact]
    public void SameSeedSameDrawsOtherSeedOtherDraws()
    {
        int[] Draw(long seed)
        {
            var s = new TokenSampler(1.0, 0.95, seed);
            return Enumerable.Range(0, 200).Select(_ => s.Sample(Logits)).ToArray();
        }
        Assert.Equal(Draw(3), Draw(3));
        Assert.NotEqual(Draw(3), Draw(4));
    }

    [Fact]
    public void GreedyIsTheArgMaxAndBadSettingsAreRejected()
    {
        Assert.Equal(0, new TokenSampler().Sample(Logits));
        Assert.Equal(0, new TokenSampler(0.5, topP: 1e-9, seed: 1).Sample(Logits));   // tiny nucleus = the top token
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenSampler(-1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenSampler(1, topP: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new TokenSampler(1, topP: 1.5));
    }

    [Fact]
    public void StopsOnEosMaxTokensAndContextEnd()
    {
        using var model = GenerationFixtures.Build(nf4: false);
        var prompt = TinyLlama.Tokens(5, seed: 8);
        var (reference, _) = GenerationFixtures.UncachedGreedy(model, qst: true, prompt, 10);
        // The first generated token that did not occur before it: using it as EOS must stop right there.
        int k = Enumerable.Range(1, reference.Count - 1).First(i => !reference.Take(i).Contains(reference[i]));
        var generator = new TokenGenerator(GenerationFixtures.For(model, qst: true));
        var p = prompt.Select(x => (int)x).ToList();

        var eos = generator.Generate(p, new GenerationOptions(MaxNewTokens: 10, StopTokens: [reference[k]]));
        Assert.Equal(StopReason.EndOfSequence, eos.Reason);
        Assert.Equal(reference.Take(k), eos.Tokens);
        Assert.Equal(reference.Take(k), generator.Stream(p, new GenerationOptions(MaxNewTokens: 10, StopTokens: [reference[k]])));

        var max = generator.Generate(p, new GenerationOptions(MaxNewTokens: 3));
        Assert.Equal(StopReason.MaxNewTokens, max.Reason);
        Assert.Equal(reference.Take(3), max.Tokens);

        int context = TinyLlama.Config.MaxPositionEmbeddings;
        var longPrompt = TinyLlama.Tokens(context - 2, seed: 9).Select(x => (int)x).ToList();
        var full = generator.Generate(longPrompt, new GenerationOptions(MaxNewTokens: 10));
        Assert.Equal(StopReason.ContextFull, full.Reason);
        Assert.Equal(2, full.Tokens.Count);

        Assert.Throws<ArgumentException>(() => generator.Stream([], new GenerationOptions()));
        Assert.Throws<ArgumentException>(() => generator.Stream([1, 500], new GenerationOptions()));
    }

    [Fact]
    public void CachedStepContextIsTheCausalMaskShiftedByThePast()
    {
        using var scope = NewDisposeScope();
        // Without a past it is exactly the full-sequence context of an unpadded batch.
        using (var step = AttentionContext.ForCachedStep(2, 0, 5))
        using (var full = AttentionContext.Create(ones(2, 5, dtype: ScalarType.Int64)))
        {
            TensorCheck.AssertBitwiseEqual(full.Mask, step.Mask, "mask");
            Assert.Equal(TensorCheck.ToDoubles(full.Positions), TensorCheck.ToDoubles(step.Positions));
        }
        // T_past = 4, T_new = 3: query i is at position 4 + i and reads keys 0..4+i.
        using var ctx = AttentionContext.ForCachedStep(1, 4, 3);
        Assert.Equal(new long[] { 1, 1, 3, 7 }, ctx.Mask.shape);
        Assert.Equal(4, ctx.PastLength);
        Assert.Equal(new double[] { 4, 5, 6 }, TensorCheck.ToDoubles(ctx.Positions));
        var mask = TensorCheck.ToFloats(ctx.Mask);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 7; j++)
                Assert.Equal(j <= 4 + i ? 0f : float.MinValue, mask[i * 7 + j]);
    }

    [Fact]
    public void KvCacheReturnsEverythingAppendedAcrossGrowth()
    {
        using var scope = NewDisposeScope();
        using var cache = new KvCache(initialCapacity: 2);
        var keys = new List<Tensor>();
        var values = new List<Tensor>();
        Tensor k = null!, v = null!;
        foreach (int t in new[] { 3, 1, 1, 4, 1 })   // grows past 2, 6, ...
        {
            var nk = randn(1, 2, t, 4);
            var nv = randn(1, 2, t, 4);
            keys.Add(nk);
            values.Add(nv);
            (k, v) = cache.Append(nk, nv);
        }
        Assert.Equal(10, cache.Length);
        Assert.True(cache.Capacity >= 10);
        TensorCheck.AssertBitwiseEqual(cat(keys, 2), k.contiguous(), "keys");
        TensorCheck.AssertBitwiseEqual(cat(values, 2), v.contiguous(), "values");
        Assert.Throws<ArgumentException>(() => cache.Append(randn(1, 3, 1, 4), randn(1, 3, 1, 4)));
    }
}
