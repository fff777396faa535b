namespace QstOrleans.Model.Backbone;

/// <summary>A model directory whose tensors do not match its config; the message names the tensor.</summary>
public sealed class ModelWeightsException(string source, string tensorName, string why)
    : Exception($"{source}: tensor '{tensorName}' {why}")
{
    public string FilePath { get; } = source;
    public string TensorName { get; } = tensorName;
}
