using QstOrleans.Model.Config;
using QstOrleans.Model.Qst;

namespace QstOrleans.Cli.Bench.Reports;

/// <summary>
/// Matmul FLOPs per trained token of one training step, per configuration, and the speed ceiling they put on QST's
/// advantage (a method's FLOPs ÷ QST's: what QST's speed ratio would be if every FLOP cost the same). Counted
/// (2 FLOPs per multiply-add; norms, activations, softmax, RoPE and NF4 decoding left out):
/// <code>
/// L  = 2·(layer linear parameters)·n          backbone linears, forward
/// A  = 4·T·q·n                                eager attention forward: Q·Kᵀ and P·V over the whole T×T
/// Hd = 2·V·E                                  LM head matmul
/// LoRA/QLoRA:  forward L + A + Hd + 2·lora;  backward L (input gradients) + 2A + 2·Hd (chunked loss recomputes the
///              head, then its input gradient; Hd with a plain loss) + 4·lora;  +gc: L + A again (each layer's forward recomputed)
/// full:        LoRA's without adapters, + L + Hd of weight gradients (linears and the trainable head)
/// QST:         backbone forward only L + A;  head 3·Hd (forward, recompute, input gradient; 2·Hd with a plain loss);
///              side 6·(QST trainable parameters) + 3·4·T·q_side·n
/// </code>
/// </summary>
public static class FlopCeiling
{
    /// <summary>FLOPs per token of one step of <paramref name="method"/> (qst, qst-cached, qlora, lora, full).</summary>
    /// <exception cref="ArgumentException">Unknown method, or <c>+gc</c> asked of QST.</exception>
    /// <param name="headRecompute">The chunked loss's second head matmul in backward (this engine); false = a plain loss that keeps the logits.</param>
    public static double PerToken(ModelConfig c, string method, bool gradientCheckpointing, int sequence, QstConfig? qstConfig = null, int loraRank = 8,
        bool headRecompute = true)
    {
        double t = sequence;
        double l = 2.0 * c.NumLayers * MemoryModel.LayerLinearParameters(c);
        double a = 4.0 * t * c.QDim * c.NumLayers;
        double head = 2.0 * c.VocabSize * QstConfig.OutputWidth(c);
        double recompute = gradientCheckpointing ? l + a : 0;
        double headBackward = headRecompute ? 2 * head : head;   // [recompute +] input gradient
        switch (method)
        {
            case "qst" or "qst-cached":
                if (gradientCheckpointing) throw new ArgumentException("QST keeps no backbone graph: it has no gradient checkpointing");
                var qst = qstConfig ?? new QstConfig();
                var side = qst.SideShape(c);
                double sideAttention = 3 * 4.0 * t * side.QDim * c.NumLayers;
                return l + a + head + headBackward + 6.0 * QstParameterCount.Of(c, qst).Total + sideAttention;
            case "qlora" or "lora":
                double lora = 2.0 * c.NumLayers * MemoryModel.LayerLoraParameters(c, loraRank);
                return (l + a + head + lora) + (l + 2 * a + headBackward + 2 * lora) + recompute;
            case "full":
                return (l + a + head) + (l + 2 * a + headBackward) + (l + head) + recompute;
            default:
                throw new ArgumentException($"no FLOP count for method '{method}'");
        }
    }

    /// <summary>The method's FLOPs per token ÷ QST's on the same shape and sequence length.</summary>
    public static double VersusQst(ModelConfig c, string method, bool gradientCheckpointing, int sequence, bool headRecompute = true) =>
        PerToken(c, method, gradientCheckpointing, sequence, headRecompute: headRecompute) / PerToken(c, "qst", false, sequence, headRecompute: headRecompute);
}
