using QstOrleans.Model.Config;

namespace QstOrleans.Tests.Engine;

/// <summary>Weights and dims of one Llama decoder layer, row-major doubles (linears [out, in]).</summary>
internal sealed record RefLayer(
    int Hidden, int Intermediate, int Heads, int KvHeads, int HeadDim, double Eps, double Theta,
    double[] InputNorm, double[] Wq, double[] Wk, double[] Wv, double[] Wo,
    double[] PostNorm, double[] Wgate, double[] Wup, double[] Wdown)
{
    /// <summary>Reads layer weights by HF name (prefix like "model.layers.0.").</summary>
    public static RefLayer From(Func<string, double[]> get, string prefix, int hidden, int intermediate,
        int heads, int kvHeads, int headDim, double eps, double theta) => new(
        hidden, intermediate, heads, kvHeads, headDim, eps, theta,
        get(prefix + "input_layernorm.weight"),
        get(prefix + "self_attn.q_proj.weight"), get(prefix + "self_attn.k_proj.weight"),
        get(prefix + "self_attn.v_proj.weight"), get(prefix + "self_attn.o_proj.weight"),
        get(prefix + "post_attention_layernorm.weight"),
        get(prefix + "mlp.gate_proj.weight"), get(prefix + "mlp.up_proj.weight"), get(prefix + "mlp.down_proj.weight"));
}

/// <summary>
/// A plain, loop-by-loop Llama forward in double precision, written from the math of spec §1.4 and
/// §13 (not from the engine): RMSNorm, q/k/v projections, RoPE rotate-half with θ_j = base^(−2j/D),
/// GQA (query head j reads kv head ⌊j·n_kv/n_h⌋), causal + padding softmax, SiLU-gated MLP.
/// One sequence at a time; activations are [T, width] row-major.
/// </summary>
internal static class LlamaReference
{
    /// <summary>y[r, o] = Σ_i x[r, i]·W[o, i] (+ b[o]).</summary>
    public static double[] Linear(double[] x, int rows, int inF, double[] w, int outF, double[]? bias = null)
    {
        Assert.Equal(rows * inF, x.Length);
        Assert.Equal(outF * inF, w.Length);
        var y = new double[rows * outF];
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outF; o++)
            {
                double s = bias?[o] ?? 0;
                for (int i = 0; i < inF; i++) s += x[r * inF + i] * w[o * inF + i];
                y[r * outF + o] = s;
            }
        return y;
    }

    public static double[] RmsNorm(double[] x, int rows, int width, double[] w, double eps)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double ms = 0;
            for (int j = 0; j < width; j++) ms += x[r * width + j] * x[r * width + j];
            double inv = 1.0 / Math.Sqrt(ms / width + eps);
            for (int j = 0; j < width; j++) y[r * width + j] = w[j] * x[r * width + j] * inv;
        }
        return y;
    }

    public static double[] LayerNorm(double[] x, int rows, int width, double[] gamma, double[] beta, double eps)
    {
        var y = new double[x.Length];
        for (int r = 0; r < rows; r++)
        {
            double mean = 0, var = 0;
            for (int j = 0; j < width; j++) mean += x[r * width + j];
            mean /= width;
            for (int j = 0; j < width; j++) var += (x[r * width + j] - mean) * (x[r * width + j] - mean);
            var /= width;
            double inv = 1.0 / Math.Sqrt(var + eps);
            for (int j = 0; j < width; j++) y[r * width + j] = (x[r * width + j] - mean) * inv * gamma[j] + beta[j];
        }
        return y;
    }

    public static double Sigmoid(double x) => 1.0 / (1.0 + Math.Exp(-x));
    public static double Silu(double x) => x * Sigmoid(x);

    /// <summary>Rotate-half RoPE applied in place to every head of x [T, heads·D] at positions 0..T−1.</summary>
    static void Rope(double[] x, int t, int heads, int d, double theta)
    {
        int half = d / 2;
        for (int m = 0; m < t; m++)
            for (int h = 0; h < heads; h++)
            {
                int o = m * heads * d + h * d;
                for (int j = 0; j < half; j++)
                {
                    double angle = m * Math.Pow(theta, -2.0 * j / d);
                    double c = Math.Cos(angle), s = Math.Sin(angle);
                    double a = x[o + j], b = x[o + j + half];
                    x[o + j] = a * c - b * s;
                    x[o + j + half] = b * c + a * s;
                }
            }
    }

    /// <summary>One pre-norm decoder layer. keep[t] = false marks padding keys.</summary>
    public static double[] Layer(double[] x, int t, bool[] keep, RefLayer l)
    {
        int h = l.Hidden, d = l.HeadDim, nh = l.Heads, nkv = l.KvHeads;
        var u = RmsNorm(x, t, h, l.InputNorm, l.Eps);
        var q = Linear(u, t, h, l.Wq, nh * d);
        var k = Linear(u, t, h, l.Wk, nkv * d);
        var v = Linear(u, t, h, l.Wv, nkv * d);
        Rope(q, t, nh, d, l.Theta);
        Rope(k, t, nkv, d, l.Theta);
        var mixed = new double[t * nh * d];
        var scores = new double[t];
        for (int head = 0; head < nh; head++)
        {
            int kvHead = head * nkv / nh;
            for (int i = 0; i < t; i++)
            {
                double max = double.NegativeInfinity;
                for (int j = 0; j <= i; j++)
                {
                    if (!keep[j]) { scores[j] = double.NegativeInfinity; continue; }
                    double s = 0;
                    for (int c = 0; c < d; c++) s += q[i * nh * d + head * d + c] * k[j * nkv * d + kvHead * d + c];
                    scores[j] = s / Math.Sqrt(d);
                    max = Math.Max(max, scores[j]);
                }
                double z = 0;
                for (int j = 0; j <= i; j++) z += keep[j] ? Math.Exp(scores[j] - max) : 0;
                for (int j = 0; j <= i; j++)
                {
                    if (!keep[j]) continue;
                    double p = Math.Exp(scores[j] - max) / z;
                    for (int c = 0; c < d; c++) mixed[i * nh * d + head * d + c] += p * v[j * nkv * d + kvHead * d + c];
                }
            }
        }
        var attn = Linear(mixed, t, nh * d, l.Wo, h);
        var res = new double[x.Length];
        for (int i = 0; i < x.Length; i++) res[i] = x[i] + attn[i];
        var w = RmsNorm(res, t, h, l.PostNorm, l.Eps);
        var gate = Linear(w, t, h, l.Wgate, l.Intermediate);
        var up = Linear(w, t, h, l.Wup, l.Intermediate);
        for (int i = 0; i < gate.Length; i++) gate[i] = Silu(gate[i]) * up[i];
        var mlp = Linear(gate, t, l.Intermediate, l.Wdown, h);
        for (int i = 0; i < res.Length; i++) res[i] += mlp[i];
        return res;
    }

    /// <summary>The whole model on one sequence: taps (embedding + each layer), ĥ and logits [T, V].</summary>
    public static (List<double[]> Taps, double[] FinalNormed, double[] Logits) Forward(
        Dictionary<string, RawSafetensors.Entry> w, ModelConfig c, long[] ids, bool[] keep)
    {
        int t = ids.Length, h = c.HiddenSize;
        double[] Get(string n) => w[n].Data;
        var emb = Get("model.embed_tokens.weight");
        var x = new double[t * h];
        for (int i = 0; i < t; i++) Array.Copy(emb, ids[i] * h, x, i * h, h);
        var taps = new List<double[]> { x };
        for (int layer = 0; layer < c.NumLayers; layer++)
        {
            var l = RefLayer.From(Get, $"model.layers.{layer}.", h, c.IntermediateSize, c.NumHeads,
                c.NumKeyValueHeads, c.HeadDim, c.NormEps, c.RopeTheta);
            x = Layer(x, t, keep, l);
            taps.Add(x);
        }
        var normed = RmsNorm(x, t, h, Get("model.norm.weight"), c.NormEps);
        var logits = Linear(normed, t, h, Get("lm_head.weight"), c.VocabSize);
        return (taps, normed, logits);
    }
}
