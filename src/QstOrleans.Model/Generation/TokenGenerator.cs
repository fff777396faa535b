using System.Diagnostics;
using static TorchSharp.torch;

namespace QstOrleans.Model.Generation;

/// <summary>
/// Autoregressive decoding for a <see cref="GenerationModel"/> (QST or a plain backbone): prefill the prompt,
/// then feed only the last token each step over the KV caches (backbone and side caches threaded together,
/// spec §8). Greedy or temperature/top-p sampling (<see cref="TokenSampler"/>), stop on a stop token, on
/// <see cref="GenerationOptions.MaxNewTokens"/> or at <c>max_position_embeddings</c>.
/// </summary>
/// <remarks>
/// <para>Streaming: <see cref="Stream"/> yields each token as soon as it is chosen (lazily: nothing runs until
/// enumerated); <see cref="Generate"/> collects them, calling a callback per token. Each step runs under
/// <c>no_grad</c> in its own dispose scope, closed before the token is handed out, so the caller's tensors
/// never land in the generator's scope. One sequence (batch 1) per call; a <see cref="TokenGenerator"/> holds no
/// state between calls.</para>
/// <para>Throws <see cref="ArgumentException"/> for an empty prompt, a prompt longer than the context, a
/// token id outside the vocabulary, or <see cref="GenerationOptions.MaxNewTokens"/> &lt; 1; the sampler's
/// exceptions for bad temperature/top-p; <see cref="OperationCanceledException"/> on cancellation.</para>
/// </remarks>
public sealed class TokenGenerator(GenerationModel model)
{
    public GenerationModel Model { get; } = model;

    /// <summary>The generated token ids, one at a time (the stop token is not yielded).</summary>
    public IEnumerable<int> Stream(IReadOnlyList<int> prompt, GenerationOptions options, CancellationToken cancellation = default)
    {
        Validate(prompt, options);   // eagerly: bad input fails here, not at the first MoveNext
        return Run(prompt, options, cancellation).Where(e => e.Stop is null).Select(e => e.Token);
    }

    /// <summary>Generates to the end, calling <paramref name="onToken"/> with each token as it is chosen.</summary>
    public GenerationResult Generate(IReadOnlyList<int> prompt, GenerationOptions options, Action<int>? onToken = null,
        CancellationToken cancellation = default)
    {
        Validate(prompt, options);
        var tokens = new List<int>();
        var clock = Stopwatch.StartNew();
        TimeSpan prefill = TimeSpan.Zero;
        foreach (var e in Run(prompt, options, cancellation))
        {
            if (tokens.Count == 0 && prefill == TimeSpan.Zero) prefill = clock.Elapsed;
            if (e.Stop is { } reason) return new GenerationResult(tokens, reason, prefill, clock.Elapsed - prefill);
            tokens.Add(e.Token);
            onToken?.Invoke(e.Token);
        }
        throw new UnreachableException("the generation loop always ends with a stop event");
    }

    readonly record struct Event(int Token, StopReason? Stop);

    IEnumerable<Event> Run(IReadOnlyList<int> prompt, GenerationOptions options, CancellationToken cancellation)
    {
        var sampler = new TokenSampler(options.Temperature, options.TopP, options.Seed);
        var stop = options.StopTokens ?? [];
        long context = Model.Config.MaxPositionEmbeddings;
        var sequence = prompt.Select(id => (long)id).ToList();
        using var cache = options.UseCache ? Model.CreateCache(Math.Min(context, prompt.Count + options.MaxNewTokens)) : null;
        for (int step = 0; step < options.MaxNewTokens; step++)
        {
            if (sequence.Count >= context)
            {
                yield return new Event(-1, StopReason.ContextFull);
                yield break;
            }
            cancellation.ThrowIfCancellationRequested();
            int next = NextToken(sequence, cache, sampler);
            if (stop.Contains(next))
            {
                yield return new Event(-1, StopReason.EndOfSequence);
                yield break;
            }
            sequence.Add(next);
            yield return new Event(next, null);
        }
        yield return new Event(-1, StopReason.MaxNewTokens);
    }

    int NextToken(List<long> sequence, GenerationCache? cache, TokenSampler sampler)
    {
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        // With a cache only the positions it has not seen yet are fed: the prompt first, then one token.
        int from = cache is null ? 0 : (int)cache.Length;
        var ids = tensor(sequence.GetRange(from, sequence.Count - from).ToArray(), [1, sequence.Count - from]);   // [1, T_new]
        var logits = Model.NextTokenLogits(ids, cache).contiguous();                                             // [1, V] fp32
        return sampler.Sample(logits.data<float>().ToArray());
    }

    void Validate(IReadOnlyList<int> prompt, GenerationOptions options)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt is empty: give at least one token (e.g. BOS)");
        if (prompt.Count > Model.Config.MaxPositionEmbeddings)
            throw new ArgumentException($"the prompt has {prompt.Count} tokens, more than the model's max_position_embeddings ({Model.Config.MaxPositionEmbeddings})");
        if (options.MaxNewTokens < 1) throw new ArgumentException($"max new tokens must be >= 1, got {options.MaxNewTokens}");
        for (int i = 0; i < prompt.Count; i++)
            if (prompt[i] < 0 || prompt[i] >= Model.VocabSize)
                throw new ArgumentException($"prompt token {i} is id {prompt[i]}, outside the vocabulary (0..{Model.VocabSize - 1})");
        _ = new TokenSampler(options.Temperature, options.TopP);   // validates before the first step runs
    }
}
