using static TorchSharp.torch;

namespace QstOrleans.Model.Quantization;

/// <summary>
/// What a stage knows when it chooses between caching dequantized weights and dequantizing per micro-batch.
/// </summary>
/// <param name="LinearElementCounts">Weights per NF4 linear, in the order they run (out·in each).</param>
/// <param name="SlotMemoryBytes">The device slot's memory.</param>
/// <param name="ResidentBytes">What the stage already holds: NF4 weights, embeddings, norms, runtime.</param>
/// <param name="ActivationReserveBytes">Kept free for the micro-batches in flight (activations, taps, queue).</param>
/// <param name="BytesPerElement">2 for a bf16 cache, 4 for fp32.</param>
/// <param name="Headroom">Fraction of the slot never planned for (allocator slack, fragmentation).</param>
public sealed record Nf4CacheInputs(
    IReadOnlyList<long> LinearElementCounts,
    long SlotMemoryBytes,
    long ResidentBytes,
    long ActivationReserveBytes,
    int BytesPerElement = 2,
    double Headroom = 0.1);

/// <summary>The choice: which linears keep their dequantized weight, what it costs, and why.</summary>
/// <param name="Cache">Per linear, in input order: cache (true) or dequantize per micro-batch (false).</param>
/// <param name="CacheBytes">Memory the cached weights take.</param>
/// <param name="BudgetBytes">Memory available for caching: slot·(1 − headroom) − resident − reserve (≥ 0).</param>
/// <param name="Reason">One line for the log.</param>
public sealed record Nf4CachePlan(IReadOnlyList<bool> Cache, long CacheBytes, long BudgetBytes, string Reason)
{
    /// <summary>Number of linears cached.</summary>
    public int CachedCount => Cache.Count(c => c);
}

/// <summary>
/// The per-stage choice between caching dequantized NF4 weights (fast: no decode per call, costs
/// 2 B/weight in bf16) and dequantizing per micro-batch (0.5 B/weight held). WHY partial caching:
/// decode time and cache memory are both proportional to a linear's weight count, so every byte of
/// budget buys the same saving and any first-fit fill of the budget is as good as another; filling it
/// in running order (skipping a linear that does not fit) uses as much of it as possible.
/// Throws <see cref="ArgumentException"/> for negative sizes, a dtype size other than 2 or 4, or a
/// headroom outside [0, 1).
/// </summary>
public static class Nf4CachePolicy
{
    /// <summary>Decides from the inputs alone (no tensors touched).</summary>
    /// <exception cref="ArgumentException">Invalid inputs (named in the message).</exception>
    public static Nf4CachePlan Decide(Nf4CacheInputs inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.LinearElementCounts.Any(n => n < 0))
            throw new ArgumentException("Nf4CacheInputs.LinearElementCounts: counts must be >= 0.", nameof(inputs));
        if (inputs.SlotMemoryBytes < 0 || inputs.ResidentBytes < 0 || inputs.ActivationReserveBytes < 0)
            throw new ArgumentException($"Nf4CacheInputs: slot memory ({inputs.SlotMemoryBytes}), resident ({inputs.ResidentBytes}) and reserve ({inputs.ActivationReserveBytes}) bytes must be >= 0.", nameof(inputs));
        if (inputs.BytesPerElement is not (2 or 4))
            throw new ArgumentException($"Nf4CacheInputs.BytesPerElement must be 2 (bf16) or 4 (fp32), got {inputs.BytesPerElement}.", nameof(inputs));
        if (inputs.Headroom is < 0 or >= 1 || double.IsNaN(inputs.Headroom))
            throw new ArgumentException($"Nf4CacheInputs.Headroom must be in [0, 1), got {inputs.Headroom}.", nameof(inputs));

        long usable = (long)Math.Floor(inputs.SlotMemoryBytes * (1 - inputs.Headroom));
        long budget = Math.Max(0, usable - inputs.ResidentBytes - inputs.ActivationReserveBytes);
        var cache = new bool[inputs.LinearElementCounts.Count];
        long used = 0, all = 0;
        for (int i = 0; i < cache.Length; i++)
        {
            long bytes = inputs.LinearElementCounts[i] * inputs.BytesPerElement;
            all += bytes;
            if (used + bytes <= budget)
            {
                cache[i] = true;
                used += bytes;
            }
        }
        int count = cache.Count(c => c);
        string reason = count == cache.Length
            ? $"caching all {cache.Length} dequantized NF4 weights ({Mib(used)} MiB of a {Mib(budget)} MiB budget)"
            : count == 0
                ? $"dequantizing per micro-batch: caching needs {Mib(all)} MiB, budget {Mib(budget)} MiB (slot {Mib(inputs.SlotMemoryBytes)} MiB − {inputs.Headroom:P0} headroom − {Mib(inputs.ResidentBytes)} resident − {Mib(inputs.ActivationReserveBytes)} reserve)"
                : $"caching {count} of {cache.Length} dequantized NF4 weights ({Mib(used)} of the {Mib(all)} MiB all would need, budget {Mib(budget)} MiB); the rest dequantize per micro-batch";
        return new Nf4CachePlan(cache, used, budget, reason);
    }

    /// <summary>
    /// Decides for these layers (NF4 weights counted as resident on top of <paramref name="otherResidentBytes"/>)
    /// and sets <see cref="Nf4Linear.CacheDequantized"/> on each accordingly.
    /// </summary>
    /// <exception cref="ArgumentException">Invalid sizes or a dtype other than BFloat16/Float32.</exception>
    public static Nf4CachePlan Apply(IReadOnlyList<Nf4Linear> layers, long slotMemoryBytes, long otherResidentBytes,
        long activationReserveBytes, ScalarType dtype = ScalarType.BFloat16)
    {
        ArgumentNullException.ThrowIfNull(layers);
        int size = dtype switch
        {
            ScalarType.BFloat16 => 2,
            ScalarType.Float32 => 4,
            _ => throw new ArgumentException($"NF4 cache dtype must be BFloat16 or Float32, got {dtype}.", nameof(dtype)),
        };
        long nf4 = layers.Sum(l => l.Weight.ByteSize);
        var plan = Decide(new Nf4CacheInputs([.. layers.Select(l => l.Weight.ElementCount)], slotMemoryBytes,
            otherResidentBytes + nf4, activationReserveBytes, size));
        for (int i = 0; i < layers.Count; i++)
            layers[i].CacheDequantized = plan.Cache[i];
        return plan;
    }

    /// <summary>
    /// <see cref="Apply"/> over every <see cref="Nf4Linear"/> in <paramref name="module"/> (a backbone stage),
    /// counting its parameters and buffers as resident. Float64 compute has no NF4 cache (nothing is cached).
    /// </summary>
    /// <exception cref="ArgumentException">Invalid sizes.</exception>
    public static Nf4CachePlan ApplyToModule(nn.Module module, long slotMemoryBytes, long activationReserveBytes, ScalarType computeDType)
    {
        ArgumentNullException.ThrowIfNull(module);
        // modules() can yield a module twice (through ModuleDict): count each layer once.
        var layers = module.modules().OfType<Nf4Linear>().Distinct(ReferenceEqualityComparer.Instance).Cast<Nf4Linear>().ToList();
        if (computeDType is not (ScalarType.BFloat16 or ScalarType.Float32))
            return Apply(layers, 0, 0, 0);
        long other = module.parameters().Sum(p => p.numel() * p.element_size()) + module.buffers().Sum(b => b.numel() * b.element_size());
        return Apply(layers, slotMemoryBytes, other, activationReserveBytes, computeDType);
    }

    private static string Mib(long bytes) => (bytes / 1048576.0).ToString("F0", System.Globalization.CultureInfo.InvariantCulture);
}
