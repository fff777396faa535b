using System.Globalization;
using System.Text.Json;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Model.Checkpoints;

/// <summary>How a side network was trained (recorded in <c>side_config.json</c>).</summary>
public sealed record SideNetworkTraining(Precision Precision, long Seed, WeightFormat BackboneFormat = WeightFormat.Nf4, bool DoubleQuant = true);

/// <summary>A trained side network put on a base model that does not fit it; the message names both models.</summary>
public sealed class SideNetworkMismatchException(string message) : ArgumentException(message);

/// <summary>
/// Exports a trained QST side network as a self-describing folder and loads it back onto its base model.
/// </summary>
/// <remarks>
/// <para>Folder: <c>side_model.safetensors</c> holds every parameter AND buffer of <see cref="QstSideNetwork"/>
/// under its <c>named_parameters()</c>/<c>named_buffers()</c> name, in its storage dtype (fp32 master weights by
/// default, else the compute dtype; the gates z and λ are fp32), so a reload is bitwise exact. For N backbone layers:</para>
/// <code>
/// downsample.{i}.adapter_A.weight [p, H], downsample.{i}.adapter_B.weight [d, p]   i = 0..N-1: adapter H → p → d
/// downsample.{i}.post_layer_norm.{weight,bias} [d]      LayerNorm after the adapter (default; pre_layer_norm before)
/// z.{i}                               [d]              ladder gate logits (fp32)
/// qst_layers.{i}.self_attn.{q,k,v,o}_proj.weight       side decoder layer i at width d = H/r (k/v: [n_kv·d/n_h, d])
/// qst_layers.{i}.mlp.{gate,up,down}_proj.weight        Llama MLP at I/r
/// qst_layers.{i}.{input,post_attention}_layernorm.weight [d]
///   (OPT side layers: self_attn.*_proj.{weight,bias}, self_attn_layer_norm, fc1, fc2, final_layer_norm)
/// norm_qst.weight [d]                                  final side norm (OPT: .bias too)
/// upsample.weight [E, d], upsample.bias [E]            U: d → E (E = H, OPT: word_embed_proj_dim)
/// lm_head_z                           [E]              merge-gate logits λ (fp32; a buffer unless trained)
/// </code>
/// <para>The safetensors metadata repeats <c>format</c>, <c>base_model</c> and <c>shape_sha256</c>;
/// <c>side_config.json</c> (<see cref="SideNetworkManifest"/>) records the QstConfig, precision, seed, backbone
/// format and the base model's <see cref="BaseModelFingerprint"/>.</para>
/// <para>Errors: loading onto a base model with another shape checksum throws <see cref="SideNetworkMismatchException"/>
/// naming both models and the differing fields; a missing, extra or mis-shaped tensor throws
/// <see cref="SafeTensorsFormatException"/> naming the file and tensor; a bad side_config.json throws
/// <see cref="InvalidDataException"/>; a missing file <see cref="FileNotFoundException"/>.</para>
/// </remarks>
public static class SideNetworkExport
{
    public const string WeightsFile = "side_model.safetensors";
    public const string ConfigFile = "side_config.json";

    /// <summary>Writes <c>side_model.safetensors</c> and <c>side_config.json</c> into <paramref name="directory"/>.</summary>
    public static SideNetworkManifest Export(QstSideNetwork side, SideNetworkTraining training, string directory)
    {
        Directory.CreateDirectory(directory);
        var manifest = new SideNetworkManifest
        {
            Qst = side.Config,
            Precision = training.Precision.ToString(),
            Seed = training.Seed,
            BackboneFormat = SideNetworkManifest.FormatText(training.BackboneFormat),
            DoubleQuant = training.DoubleQuant,
            TrainableParameters = side.TrainableParameterCount,
            BaseModel = BaseModelFingerprint.From(side.Model),
        };
        var writer = new SafeTensorsWriter();
        foreach (var (name, tensor) in State(side))
        {
            using var detached = tensor.detach();
            writer.Add(name, detached);
        }
        writer.Metadata["format"] = SideNetworkManifest.FormatName;
        writer.Metadata["base_model"] = manifest.BaseModel.Name;
        writer.Metadata["shape_sha256"] = manifest.BaseModel.ShapeSha256;
        writer.Write(Path.Combine(directory, WeightsFile));
        // The config goes last: a folder with a config always has its weights.
        File.WriteAllText(Path.Combine(directory, ConfigFile), manifest.ToJson());
        return manifest;
    }

    /// <summary>Reads the manifest and refuses a base model whose shape checksum differs.</summary>
    /// <exception cref="SideNetworkMismatchException">The side network belongs to another base model.</exception>
    public static SideNetworkManifest CheckBase(string directory, ModelConfig baseModel)
    {
        var manifest = SideNetworkManifest.Read(Path.Combine(directory, ConfigFile));
        var actual = BaseModelFingerprint.From(baseModel);
        if (manifest.BaseModel.ShapeSha256 != actual.ShapeSha256)
        {
            var diff = manifest.BaseModel.Differences(actual);
            throw new SideNetworkMismatchException(
                $"{Path.Combine(directory, ConfigFile)}: this side network was trained for base model {manifest.BaseModel.Describe()}, " +
                $"not for base model {actual.Describe()}" + (diff.Count > 0 ? $"; differing fields: {string.Join(", ", diff)}" : ""));
        }
        return manifest;
    }

    /// <summary>Rebuilds the side network of <paramref name="directory"/> for <paramref name="baseModel"/>.</summary>
    public static QstSideNetwork Load(string directory, ModelConfig baseModel)
    {
        var manifest = CheckBase(directory, baseModel);
        var side = new QstSideNetwork(baseModel, manifest.Qst, Precision.Parse(manifest.Precision), manifest.Seed);
        try
        {
            CopyInto(side, Path.Combine(directory, WeightsFile), requireAll: true);
            return side;
        }
        catch
        {
            side.Dispose();
            throw;
        }
    }

    /// <summary>Loads the base model (backbone held as at training time) and the exported side network on it.</summary>
    public static QstModel LoadModel(string directory, string baseModelDirectory)
    {
        var config = ModelConfig.Load(baseModelDirectory);
        var manifest = CheckBase(directory, config);
        var precision = Precision.Parse(manifest.Precision);
        var options = new BackboneOptions(SideNetworkManifest.ParseFormat(manifest.BackboneFormat, directory), manifest.DoubleQuant, precision);
        var side = Load(directory, config);
        var backbone = BackboneLoader.LoadAll(baseModelDirectory, config, options);
        var head = BackboneLoader.LoadLmHead(baseModelDirectory, config, options);
        return new QstModel(backbone, side, head);
    }

    /// <summary>Every parameter and buffer of the side network by its module name.</summary>
    public static IEnumerable<(string Name, Tensor Tensor)> State(QstSideNetwork side) =>
        side.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).Concat(side.named_buffers().Select(b => (b.name, b.buffer)));

    /// <summary>
    /// Copies same-named tensors of a safetensors file into the side network (bitwise, same dtype and shape).
    /// With <paramref name="requireAll"/> every parameter and buffer must be present; otherwise (a trainer's
    /// <c>trainable.safetensors</c>) every trainable parameter must be. Tensors the network lacks are an error.
    /// </summary>
    public static void CopyInto(QstSideNetwork side, string file, bool requireAll)
    {
        using var st = SafeTensorsFile.Open(file);
        var state = State(side).ToDictionary(s => s.Name, s => s.Tensor);
        var trainable = side.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToHashSet();
        foreach (var name in st.Tensors.Keys)
            if (!state.ContainsKey(name))
                throw new SafeTensorsFormatException(file, name, "is not a tensor of this side network (another QST config?)");
        using var noGrad = no_grad();
        foreach (var (name, target) in state)
        {
            if (!st.Contains(name))
            {
                if (requireAll || trainable.Contains(name)) throw new SafeTensorsFormatException(file, name, "tensor missing");
                continue;
            }
            using var loaded = st.ReadTensor(name);
            if (!loaded.shape.SequenceEqual(target.shape) || loaded.dtype != target.dtype)
                throw new SafeTensorsFormatException(file, name,
                    $"is {loaded.dtype} [{string.Join(", ", loaded.shape)}] but the side network needs {target.dtype} [{string.Join(", ", target.shape)}]");
            target.copy_(loaded);
        }
    }

    /// <summary>
    /// Exports a training checkpoint folder (a cluster job's: <see cref="TrainingCheckpoint.Files"/> with its
    /// <see cref="TrainingCheckpoint.ConfigFile"/>): rebuilds the side network from the stored config on
    /// <paramref name="baseModelDirectory"/>, copies the checkpoint's weights (bitwise) and writes the export folder.
    /// Throws <see cref="InvalidDataException"/> naming the file when the folder has no stored config, and what
    /// <see cref="CopyInto"/> throws for weights of another shape (another base model).
    /// </summary>
    public static SideNetworkManifest ExportCheckpoint(string checkpointDirectory, string baseModelDirectory, string outputDirectory)
    {
        var config = TrainingCheckpoint.ReadConfig(checkpointDirectory)
                     ?? throw new InvalidDataException($"{Path.Combine(checkpointDirectory, TrainingCheckpoint.ConfigFile)}: missing, so the side " +
                                                       "network's config is unknown (a checkpoint written before configs were stored?)");
        var build = ModelBuildOptions.From(config);
        var training = new SideNetworkTraining(build.Compute, build.Seed, build.BackboneFormat, build.DoubleQuant);
        var model = ModelConfig.Load(baseModelDirectory);
        using var side = new QstSideNetwork(model, build.Qst.Validate(model), training.Precision, training.Seed);
        CopyInto(side, Path.Combine(checkpointDirectory, TrainingCheckpoint.WeightsFile), requireAll: true);
        return Export(side, training, outputDirectory);
    }

    // ---- trainer run folders: trainable.safetensors carries what export needs in its metadata ----

    public const string TrainableFile = "trainable.safetensors";

    /// <summary>The metadata a QST run writes into <c>trainable.safetensors</c> so it can be exported later.</summary>
    public static Dictionary<string, string> TrainableMetadata(ModelConfig baseModel, QstConfig qst, SideNetworkTraining training, string baseModelDirectory) => new()
    {
        ["shape_sha256"] = BaseModelFingerprint.From(baseModel).ShapeSha256,
        ["qst_config"] = JsonSerializer.Serialize(qst, SideNetworkManifest.Json).ReplaceLineEndings(" "),
        ["precision"] = training.Precision.ToString(),
        ["seed"] = training.Seed.ToString(CultureInfo.InvariantCulture),
        ["backbone_format"] = SideNetworkManifest.FormatText(training.BackboneFormat),
        ["double_quant"] = training.DoubleQuant ? "true" : "false",
        ["base_model_dir"] = Path.GetFullPath(baseModelDirectory),
    };

    /// <summary>
    /// Exports a QST run's <c>trainable.safetensors</c> (the trainer's output): rebuilds the side network from the
    /// recorded config and seed, restores the trained parameters and writes the export folder. The base model comes
    /// from <paramref name="baseModelDirectory"/>, else from the run's recorded <c>base_model_dir</c>.
    /// Throws <see cref="InvalidDataException"/> when the file is not a QST run's output (names the missing key).
    /// </summary>
    public static SideNetworkManifest ExportTrainable(string trainableFile, string? baseModelDirectory, string outputDirectory)
    {
        Dictionary<string, string> meta;
        using (var st = SafeTensorsFile.Open(trainableFile)) meta = st.Metadata.ToDictionary();
        string Need(string key) => meta.TryGetValue(key, out var v) ? v
            : throw new InvalidDataException($"{trainableFile}: metadata '{key}' is missing (not written by a QST train-local run?)");
        if (meta.TryGetValue("method", out var method) && method != "Qst")
            throw new InvalidDataException($"{trainableFile}: method is '{method}'; only QST side networks can be exported");
        var qst = JsonSerializer.Deserialize<QstConfig>(Need("qst_config"), SideNetworkManifest.Json)
                  ?? throw new InvalidDataException($"{trainableFile}: metadata 'qst_config' is empty");
        var training = new SideNetworkTraining(Precision.Parse(Need("precision")), long.Parse(Need("seed"), CultureInfo.InvariantCulture),
            SideNetworkManifest.ParseFormat(Need("backbone_format"), trainableFile), Need("double_quant") == "true");
        string modelDir = baseModelDirectory ?? Need("base_model_dir");
        var config = ModelConfig.Load(modelDir);
        var actual = BaseModelFingerprint.From(config);
        if (Need("shape_sha256") != actual.ShapeSha256)
            throw new SideNetworkMismatchException(
                $"{trainableFile}: this run trained a side network for base model '{meta.GetValueOrDefault("base_model", "?")}' " +
                $"(shape sha256 {Need("shape_sha256")[..Math.Min(12, Need("shape_sha256").Length)]}), not for base model {actual.Describe()} in {modelDir}");
        using var side = new QstSideNetwork(config, qst, training.Precision, training.Seed);
        CopyInto(side, trainableFile, requireAll: false);
        return Export(side, training, outputDirectory);
    }
}
