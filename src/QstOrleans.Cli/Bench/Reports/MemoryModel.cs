using QstOrleans.Model.Attention;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Config;
using QstOrleans.Model.Qst;

namespace QstOrleans.Cli.Bench.Reports;

/// <summary>The engine's memory levers the analytic model can follow (<see cref="MemoryModel.Estimate"/>).</summary>
/// <param name="LossChunkTokens">Chunked LM head + cross-entropy over this many tokens at a time (null: whole [B·T, V] fp32 logits).</param>
/// <param name="KeepDequantized">QLoRA keeps the dequantized bf16 weights from forward to backward (false: decodes again).</param>
/// <param name="GradientCheckpointing">LoRA/QLoRA/full recompute each decoder layer in backward.</param>
/// <param name="Attention">The layers' attention kernel: eager saves the [B, n_h, T, T] scores for backward; recompute saves
/// none (it rebuilds them in backward from q, k, v that are saved anyway); fused saves an fp32 log-sum-exp per query and head.</param>
public sealed record EngineLevers(int? LossChunkTokens, bool KeepDequantized, bool GradientCheckpointing, AttentionKernel Attention = AttentionKernel.Eager)
{
    /// <summary>Today's defaults: 256-token loss chunks, QLoRA decoding again in backward, recomputed attention scores.</summary>
    public static EngineLevers Current(bool gradientCheckpointing) => new(256, false, gradientCheckpointing, AttentionKernel.Recompute);
}

/// <summary>The methods the analytic memory model knows (LST: QST's side network on an unquantized bf16 backbone).</summary>
public enum BenchMethod
{
    Qst,
    /// <summary>QST with every backbone linear's dequantized bf16 weight cached (<c>Nf4Linear.CacheDequantized</c>).</summary>
    QstCached,
    Lst,
    QLora,
    Lora,
    Full,
}

/// <summary>Memory of one training configuration, in bytes, split the way the paper's figure splits it.</summary>
/// <param name="Weights">Every parameter/buffer held (frozen and trainable, at their storage dtype).</param>
/// <param name="Gradients">One gradient per trainable parameter (fp32 master weights → 4 B each).</param>
/// <param name="Optimizer">AdamW's two fp32 moments: 8 B per trainable parameter.</param>
/// <param name="Activations">Everything that lives only during a step: tensors saved for backward, held taps,
/// logits and the loss's buffers, weight copies autograd keeps, dequantization scratch.</param>
public sealed record MemoryBreakdown(double Weights, double Gradients, double Optimizer, double Activations)
{
    public double Total => Weights + Gradients + Optimizer + Activations;
    /// <summary>The paper's "optimizer states" bar also holds the gradients (its 4 GB for 283 M trainable, spec §10).</summary>
    public double OptimizerAndGradients => Gradients + Optimizer;
}

/// <summary>
/// A-priori memory model of one training step of this engine (bf16 matmuls, fp32 residual stream and
/// logits, eager attention, fp32 master copies of trainable weights, AdamW). Llama shapes only.
/// <code>
/// weights      NF4+DQ linears 0.5 + 1/64 + 4/16384 B/param (spec §9.6), bf16 embedding + separate LM head copy,
///              bf16 norms, trainable parameters fp32
/// gradients    4 B × trainable;  optimizer 8 B × trainable
/// activations  per token per trainable-path layer (bytes saved for backward):
///                A(h, q, i, n_h) = 12h + 8q + 8i + 6·n_h·T
///                (norm inputs fp32 4h+4h, normed bf16 2h+2h, q/k/v/attn-out bf16 4×2q, softmax out fp32 + probs bf16 6·n_h·T,
///                 gate/up/silu/product bf16 4×2i); recomputed attention: 6·n_h·T → 0; fused: → 4·n_h (the log-sum-exp, fp32)
///              + LM head and loss 16·V per token (fp32 logits, the shifted copy, log-softmax out, its gradient)
///              QLoRA: + 2 B/param of dequantized weights autograd saves for the input gradient
///              Full:  + 2 B/param of bf16 weight casts saved for backward
///              QST:   backbone runs without a graph: held taps 4h·(N+2), adapter inputs cast to bf16 2h·(N+1),
///                     side layers A(d, d, I/r, n_h) (its 6·n_h·T → 2·n_h·T with bf16 side scores), + dequantization scratch (one bf16 buffer per distinct linear shape)
/// </code>
/// Throws <see cref="NotSupportedException"/> for OPT shapes.
/// </summary>
public static class MemoryModel
{
    /// <summary>NF4 bytes per parameter: 4 bits + absmax (8-bit with double quant, else fp32) per 64 + fp32 absmax2 per 64·256.</summary>
    public static double Nf4BytesPerParameter(bool doubleQuant) => doubleQuant ? 0.5 + 1.0 / 64 + 4.0 / (64 * 256) : 0.5 + 4.0 / 64;

    /// <summary>Linear parameters of one Llama decoder layer (q, k, v, o, gate, up, down).</summary>
    public static long LayerLinearParameters(ModelConfig c) =>
        2L * c.HiddenSize * c.QDim + 2L * c.HiddenSize * c.KvDim + 3L * c.HiddenSize * c.IntermediateSize;

    /// <summary>LoRA parameters of one layer: r·(in + out) per wrapped linear.</summary>
    public static long LayerLoraParameters(ModelConfig c, int rank)
    {
        long h = c.HiddenSize, q = c.QDim, kv = c.KvDim, i = c.IntermediateSize;
        return rank * ((h + q) + 2 * (h + kv) + (q + h) + 2 * (h + i) + (i + h));
    }

    /// <summary>Bytes saved for backward per token by one Llama layer of width h (q = n_h·d_h, MLP width i) at sequence length t.</summary>
    public static double LayerActivationBytesPerToken(long h, long q, long i, long heads, int t, AttentionKernel attention = AttentionKernel.Eager) =>
        12.0 * h + 8.0 * q + 8.0 * i + attention switch
        {
            AttentionKernel.Eager => 6.0 * heads * t,
            AttentionKernel.Fused => 4.0 * heads,
            _ => 0,
        };

    /// <summary>Trainable parameters of a method (full fine-tuning trains every parameter, the embedding and head included).</summary>
    public static long TrainableParameters(ModelConfig c, BenchMethod method, QstConfig qst, int loraRank) => method switch
    {
        BenchMethod.Qst or BenchMethod.QstCached or BenchMethod.Lst => QstParameterCount.Of(c, qst).Total,
        BenchMethod.QLora or BenchMethod.Lora => c.NumLayers * LayerLoraParameters(c, loraRank),
        BenchMethod.Full => TotalParameters(c),
        _ => throw new ArgumentOutOfRangeException(nameof(method), method, null),
    };

    /// <summary>Backbone parameters: layer linears, norms, embedding and a separate LM head.</summary>
    public static long TotalParameters(ModelConfig c) =>
        c.NumLayers * LayerLinearParameters(c) + (2L * c.NumLayers + 1) * c.HiddenSize + 2L * c.VocabSize * c.HiddenSize;

    /// <param name="engine">Today's memory levers (chunked loss, re-dequantizing QLoRA, recompute); null = the plain engine
    /// the formula above describes (unchunked fp32 logits, QLoRA keeping its bf16 weights, no recompute).</param>
    public static MemoryBreakdown Estimate(ModelConfig c, BenchMethod method, int batch, int sequence,
        QstConfig? qstConfig = null, int loraRank = 8, bool doubleQuant = true, EngineLevers? engine = null)
    {
        if (c.Architecture != ModelArchitecture.Llama) throw new NotSupportedException("the memory model covers Llama shapes only");
        var qst = qstConfig ?? new QstConfig();
        long n = c.NumLayers, h = c.HiddenSize, v = c.VocabSize;
        long linears = n * LayerLinearParameters(c);
        long embedAndHead = 2 * v * h, norms = (2 * n + 1) * h;
        long trainable = TrainableParameters(c, method, qst, loraRank);
        double nf4 = Nf4BytesPerParameter(doubleQuant);
        double tokens = (double)batch * sequence;

        double frozenSmall = 2.0 * (embedAndHead + norms);  // bf16 embedding, LM head copy and norms
        double weights = method switch
        {
            BenchMethod.Qst or BenchMethod.QstCached or BenchMethod.QLora => linears * nf4 + frozenSmall + 4.0 * trainable,
            BenchMethod.Lst or BenchMethod.Lora => linears * 2.0 + frozenSmall + 4.0 * trainable,
            BenchMethod.Full => 4.0 * trainable,
            _ => throw new ArgumentOutOfRangeException(nameof(method), method, null),
        };

        // Chunked loss (Model/Loss/ChunkedHeadLoss): only one [C, V] chunk's fp32 logits and their gradient live at a time.
        double head = 16.0 * v * (engine is { LossChunkTokens: int chunk } ? Math.Min(chunk, tokens) : tokens);
        double activations;
        if (method is BenchMethod.Qst or BenchMethod.QstCached or BenchMethod.Lst)
        {
            var s = qst.SideShape(c);
            double taps = (4.0 * h * (n + 2) + 2.0 * h * (n + 1)) * tokens;
            var attention = engine?.Attention ?? AttentionKernel.Eager;
            double side = n * LayerActivationBytesPerToken(s.Hidden, (long)s.Heads * s.HeadDim, s.Intermediate, s.Heads, sequence, attention) * tokens;
            // bf16 scores (saved by eager attention only): softmax saves its bf16 output, which the value matmul shares: 2 B per score instead of 4 + 2.
            if (qst.SideScoresBf16 && attention == AttentionKernel.Eager) side -= n * 4.0 * s.Heads * sequence * tokens;
            // Frozen linears decode into one reused bf16 buffer per distinct weight shape (none once cached).
            double scratch = method == BenchMethod.Qst ? 2.0 * DistinctLinearElements(c) : 0;
            double cache = method == BenchMethod.QstCached ? 2.0 * linears : 0;
            activations = taps + side + head + scratch + cache;
        }
        else
        {
            double perLayer = LayerActivationBytesPerToken(h, c.QDim, c.IntermediateSize, c.NumHeads, sequence, engine?.Attention ?? AttentionKernel.Eager) * tokens;
            // Recompute keeps each layer's fp32 input and rebuilds one layer's saved tensors at a time in backward.
            bool recompute = engine is { GradientCheckpointing: true };
            double layers = recompute ? n * 4.0 * h * tokens + perLayer : n * perLayer;
            double ends = 8.0 * h * tokens;  // embedding output and final norm input, fp32
            double savedWeights = method switch
            {
                // Re-dequantizing in backward decodes into one scratch buffer per weight shape instead of keeping every copy.
                BenchMethod.QLora => engine is { KeepDequantized: false } ? 2.0 * DistinctLinearElements(c) : 2.0 * linears,
                BenchMethod.Full => recompute ? 2.0 * (LayerLinearParameters(c) + v * h) : 2.0 * (linears + v * h),
                _ => 0,
            };
            activations = layers + ends + head + savedWeights;
        }
        return new MemoryBreakdown(weights, 4.0 * trainable, 8.0 * trainable, activations);
    }

    /// <summary>Elements of one weight of each distinct linear shape in a layer (the scratch pool keeps one per shape).</summary>
    static long DistinctLinearElements(ModelConfig c)
    {
        long h = c.HiddenSize, q = c.QDim, kv = c.KvDim, i = c.IntermediateSize;
        var shapes = new HashSet<(long, long)> { (q, h), (kv, h), (h, q), (i, h), (h, i) };
        return shapes.Sum(s => s.Item1 * s.Item2);
    }
}
