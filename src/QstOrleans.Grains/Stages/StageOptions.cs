using QstOrleans.Contracts.Wire;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Layers;

namespace QstOrleans.Grains.Stages;

/// <summary>Maps the wire spec's strings onto the engine's options (one place, shared by stage and side).</summary>
public static class SpecMapping
{
    public static BackboneOptions Backbone(string format, bool doubleQuant, string dtype) => new(
        format.ToLowerInvariant() switch
        {
            "nf4" => WeightFormat.Nf4,
            "bf16" or "bfloat16" => WeightFormat.BFloat16,
            "fp32" or "float32" => WeightFormat.Float32,
            _ => throw new ArgumentException($"backbone format '{format}' is not nf4, bf16 or fp32"),
        },
        doubleQuant, Precision.Parse(dtype));
}
