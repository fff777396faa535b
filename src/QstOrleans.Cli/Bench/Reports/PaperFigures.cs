namespace QstOrleans.Cli.Bench.Reports;

/// <summary>
/// The QST paper's Llama-2-70B memory figure (repo figure <c>memory_comsuption_70b.jpg</c>, GB; batch and
/// sequence length not stated; spec §10), to print beside our own model.
/// </summary>
public static class PaperFigures
{
    public sealed record Bar(string Method, double WeightsGb, double OptimizerGb, double ActivationsGb, double TotalGb);

    public static IReadOnlyList<Bar> Llama2_70B { get; } =
    [
        new("Full", 140, 420, 197, 757),
        new("QLoRA", 36, 13, 197, 246),
        new("LST", 140, 24, 78, 242),
        new("QST", 36, 4, 69, 109),
    ];

    public static Bar Of(string method) => Llama2_70B.First(b => string.Equals(b.Method, method, StringComparison.OrdinalIgnoreCase));
}
