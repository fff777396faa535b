using QstOrleans.Model.Config;
using QstOrleans.Model.Qst;

namespace QstOrleans.Cli.Bench.Reports;

/// <summary>
/// Bytes the distributed QST pipeline moves between grains per token position (B·T, padding included),
/// for a Llama backbone split into S stages. Every stage sends each of its layer outputs to the side
/// trainer (the first stage also the embedding output, the last also the final-normed state ĥ of width E)
/// and its last hidden state to the next stage; all of them are fp32 (the residual stream's dtype):
/// <code>
/// stage → side   = 4 · (H·(N + 1) + E)
/// stage → stage  = 4 · H · (S − 1)
/// </code>
/// </summary>
public static class GrainTraffic
{
    public const int BytesPerElement = 4;

    public static long StageToSidePerToken(ModelConfig c) => StageToSidePerToken(c.HiddenSize, c.NumLayers, QstConfig.OutputWidth(c));

    public static long StageToSidePerToken(int hidden, int layers, int outputWidth) =>
        BytesPerElement * ((long)hidden * (layers + 1) + outputWidth);

    public static long StageToStagePerToken(ModelConfig c, int stages) => StageToStagePerToken(c.HiddenSize, c.NumLayers, stages);

    /// <exception cref="ArgumentOutOfRangeException">stages outside 1..layers.</exception>
    public static long StageToStagePerToken(int hidden, int layers, int stages)
    {
        if (stages < 1 || stages > layers) throw new ArgumentOutOfRangeException(nameof(stages), stages, $"must be 1..{layers}");
        return BytesPerElement * (long)hidden * (stages - 1);
    }

    public static long TotalPerToken(ModelConfig c, int stages) => StageToSidePerToken(c) + StageToStagePerToken(c, stages);
}
