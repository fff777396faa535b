using System.Text.Json;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;
using QstOrleans.Model.Qst;
using QstOrleans.Model.SafeTensors;
using static TorchSharp.torch;

namespace QstOrleans.Model.Generation;

/// <summary>
/// Loads trained QST side weights into a <see cref="QstSideNetwork"/>. The one place that knows the file
/// layout, so the format can change (e.g. to <c>qst export</c>'s side_model.safetensors + JSON) without
/// touching the callers.
/// </summary>
/// <remarks>
/// <para>Current format: the <c>trainable.safetensors</c> written by <c>qst train-local --out DIR</c>: one
/// tensor per trainable side parameter, named as <c>QstSideNetwork.named_parameters()</c>
/// (<c>downsample.0.adapter_A.weight</c>, <c>z.0</c>, <c>qst_layers.0.self_attn.q_proj.weight</c>, ...).
/// <c>lm_head_z</c> is present only when the merge gate was trained; when absent the network keeps its
/// constant init (the reference's behaviour).</para>
/// <para>Strict: every trainable parameter must be in the file with its exact shape, and the file may hold
/// no other tensor. Values are converted to each parameter's dtype. Throws
/// <see cref="ModelWeightsException"/> naming the file and the missing, mis-shaped or unknown tensor, and
/// <see cref="SafeTensorsFormatException"/> for an unreadable file.</para>
/// </remarks>
public static class SideWeights
{
    public static void Load(QstSideNetwork side, string path)
    {
        using var file = SafeTensorsFile.Open(path);
        var parameters = side.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        var buffers = side.named_buffers().ToDictionary(b => b.name, b => b.buffer);
        foreach (var name in file.Tensors.Keys.Order(StringComparer.Ordinal))
            if (!parameters.ContainsKey(name) && !buffers.ContainsKey(name))
                throw new ModelWeightsException(file.FilePath, name, "is not a parameter of the QST side network (wrong model, r or adapter size?)");
        var missing = parameters.Keys.FirstOrDefault(n => !file.Contains(n));
        if (missing is not null)
            throw new ModelWeightsException(file.FilePath, missing, $"is missing (the side network needs {parameters.Count} tensors, the file holds {file.Tensors.Count})");
        var targets = parameters.Concat(buffers.Where(b => file.Contains(b.Key))).ToList();
        // Every shape is checked before anything is copied, so a bad file leaves the network untouched.
        foreach (var (name, target) in targets)
        {
            var shape = file.Info(name).Shape;
            if (!shape.SequenceEqual(target.shape))
                throw new ModelWeightsException(file.FilePath, name,
                    $"has shape [{string.Join(", ", shape)}], the side network expects [{string.Join(", ", target.shape)}]");
        }
        using var noGrad = no_grad();
        foreach (var (name, target) in targets)
        {
            using var value = file.ReadTensor(name);
            target.copy_(value);
        }
    }

    /// <summary>
    /// The <see cref="QstConfig"/> a side-weights file was trained with, read from its shapes: r = H / d
    /// (d = <c>norm_qst.weight</c>'s length), p = <c>downsample.0.adapter_A.weight</c>'s rows, and a trained
    /// merge gate when <c>lm_head_z</c> is present, and the side head count recorded in the metadata's <c>qst_config</c>
    /// (a train-local run's). Other fields keep their defaults.
    /// </summary>
    /// <exception cref="ModelWeightsException">A tensor needed to read the config is missing or its size does not divide H.</exception>
    public static QstConfig InferConfig(string path, ModelConfig model)
    {
        using var file = SafeTensorsFile.Open(path);
        long[] Shape(string name) => file.Contains(name)
            ? file.Info(name).Shape
            : throw new ModelWeightsException(file.FilePath, name, "is missing: cannot tell the side network's size");
        long d = Shape("norm_qst.weight")[0];
        if (d < 1 || model.HiddenSize % d != 0)
            throw new ModelWeightsException(file.FilePath, "norm_qst.weight", $"has width {d}, which does not divide the model's hidden size {model.HiddenSize}");
        return new QstConfig
        {
            R = (int)(model.HiddenSize / d),
            AdapterBottleneck = (int)Shape("downsample.0.adapter_A.weight")[0],
            TrainMergeGate = file.Contains("lm_head_z"),
            // The head count cannot be read from shapes (q/k/v/o are [d, d] for any count of plain multi-head
            // attention): a train-local run records it in the metadata; a file without the record had the default.
            SideHeads = file.Metadata.TryGetValue("qst_config", out var recorded)
                ? JsonSerializer.Deserialize<QstConfig>(recorded, SideNetworkManifest.Json)?.SideHeads ?? 0 : 0,
        };
    }
}
