namespace QstOrleans.Model.Generation;

/// <summary>
/// Picks the next token from a logits row: greedy (temperature 0), or temperature + top-p (nucleus)
/// sampling with a seeded generator, so a seed reproduces the same choices.
/// </summary>
/// <remarks>
/// <para>Greedy: the arg-max (lowest id on ties). Sampling: p = softmax(logits / T) in double precision;
/// sort by p descending (ties by id); keep the shortest prefix whose mass reaches top-p (a token is kept
/// when the mass ranked before it is below top-p, so at least one is kept, as in HF's TopPLogitsWarper);
/// draw from the kept tokens renormalised.</para>
/// <para>Throws <see cref="ArgumentOutOfRangeException"/> for a negative or non-finite temperature or a
/// top-p outside (0, 1], and <see cref="ArgumentException"/> for an empty logits row.</para>
/// </remarks>
public sealed class TokenSampler
{
    readonly Random _random;

    public TokenSampler(double temperature = 0, double topP = 1.0, long seed = 0)
    {
        if (!(temperature >= 0) || double.IsInfinity(temperature))
            throw new ArgumentOutOfRangeException(nameof(temperature), temperature, "temperature must be finite and >= 0 (0 = greedy)");
        if (!(topP > 0 && topP <= 1))
            throw new ArgumentOutOfRangeException(nameof(topP), topP, "top-p must be in (0, 1]");
        Temperature = temperature;
        TopP = topP;
        // System.Random with an explicit seed is the same sequence on every run and platform.
        _random = new Random(unchecked((int)(seed ^ (seed >> 32))));
    }

    public double Temperature { get; }
    public double TopP { get; }
    public bool IsGreedy => Temperature == 0;

    public int Sample(ReadOnlySpan<float> logits)
    {
        if (logits.Length == 0) throw new ArgumentException("empty logits row", nameof(logits));
        if (IsGreedy) return ArgMax(logits);
        var (ids, probabilities) = Nucleus(logits);
        double u = _random.NextDouble() * probabilities.Sum();
        double cumulative = 0;
        for (int i = 0; i < ids.Length; i++)
        {
            cumulative += probabilities[i];
            if (u < cumulative) return ids[i];
        }
        return ids[^1];   // u rounded up to the total
    }

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }

    /// <summary>The kept tokens (most probable first) and their unnormalised probabilities.</summary>
    (int[] Ids, double[] Probabilities) Nucleus(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        var p = new double[logits.Length];
        double total = 0;
        for (int i = 0; i < p.Length; i++) total += p[i] = Math.Exp((logits[i] - max) / Temperature);
        var order = Enumerable.Range(0, p.Length).OrderByDescending(i => p[i]).ThenBy(i => i).ToArray();
        int kept = 0;
        double before = 0;
        while (kept < order.Length && before < TopP)
        {
            before += p[order[kept]] / total;
            kept++;
        }
        var ids = order[..kept];
        return (ids, ids.Select(i => p[i]).ToArray());
    }
}
