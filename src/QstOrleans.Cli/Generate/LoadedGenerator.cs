using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;
using QstOrleans.Model.Generation;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using static TorchSharp.torch;

namespace QstOrleans.Cli.Generate;

/// <summary>
/// What <c>qst generate</c> and <c>qst chat</c> load: tokenizer, backbone (NF4 or bf16/fp32), LM head and,
/// with <c>--side</c>, the trained QST side network: either a <c>trainable.safetensors</c> file (its r and adapter
/// size read from the shapes) or an export folder (<c>side_model.safetensors</c> + <c>side_config.json</c> from
/// <c>qst export</c> or <c>train-local --out</c>), whose recorded base model is checked against <c>--model</c>.
/// </summary>
/// <remarks>Throws <see cref="SideNetworkMismatchException"/> when an export folder belongs to another base model,
/// <see cref="FileNotFoundException"/> for a missing file or a folder without <c>side_config.json</c>.</remarks>
internal sealed class LoadedGenerator : IDisposable
{
    readonly BackboneStage _backbone;
    readonly FrozenLmHead _head;
    readonly QstSideNetwork? _side;

    LoadedGenerator(string directory, ModelConfig config, ModelTokenizer tokenizer, BackboneStage backbone, FrozenLmHead head, QstSideNetwork? side, string description)
    {
        ModelDirectory = directory;
        Config = config;
        Tokenizer = tokenizer;
        _backbone = backbone;
        _head = head;
        _side = side;
        Generator = new TokenGenerator(new GenerationModel([backbone], head, side));
        Description = description;
    }

    /// <summary>The model directory (its tokenizer_config.json holds the chat template).</summary>
    public string ModelDirectory { get; }
    public ModelConfig Config { get; }
    public ModelTokenizer Tokenizer { get; }
    public TokenGenerator Generator { get; }
    /// <summary>One line: model, weights, side network.</summary>
    public string Description { get; }
    /// <summary>EOS ids: the tokenizer's and config.json's (they can differ, e.g. Llama 3 instruct).</summary>
    public IReadOnlyCollection<int> StopTokens => new HashSet<int> { Tokenizer.EosId, Config.EosTokenId };

    /// <param name="model">HF model directory; null = the embedded tiny model.</param>
    /// <param name="side">trainable.safetensors of a QST run, or an export folder; null = the plain pre-trained model.</param>
    public static LoadedGenerator Load(string? model, string? side, bool nf4, string dtype, int threads = 0)
    {
        if (threads < 0) throw new ArgumentException($"--threads must be >= 0, got {threads}");
        if (threads > 0) set_num_threads(threads);
        string dir = model ?? EmbeddedDefaults.EnsureModel();
        var config = ModelConfig.Load(dir);
        var tokenizer = ModelTokenizer.Load(dir);
        var precision = Precision.Parse(dtype);
        var format = nf4 ? WeightFormat.Nf4 : precision.Compute == ScalarType.Float32 ? WeightFormat.Float32 : WeightFormat.BFloat16;
        var options = new BackboneOptions(format, DoubleQuant: true, Precision: precision);
        var sideNetwork = side is null ? null : LoadSide(side, config, precision);
        var backbone = BackboneLoader.LoadAll(dir, config, options);
        var head = BackboneLoader.LoadLmHead(dir, config, options);
        string what = $"{config.Name} ({format}, {precision} compute)" +
                      (side is null ? ", no side network" : Directory.Exists(side) ? $", QST side network exported in {side}" : $", QST side network from {side}");
        return new LoadedGenerator(dir, config, tokenizer, backbone, head, sideNetwork, what);
    }

    /// <summary>The side network of a trainable.safetensors file or of an export folder (checked against the base model).</summary>
    static QstSideNetwork LoadSide(string side, ModelConfig config, Precision precision)
    {
        QstSideNetwork network;
        if (Directory.Exists(side))
        {
            // Checked before anything is built: the wrong base model is refused naming both models.
            var manifest = SideNetworkExport.CheckBase(side, config);
            string weights = Path.Combine(side, SideNetworkExport.WeightsFile);
            if (!File.Exists(weights)) throw new FileNotFoundException($"'{weights}' does not exist (an incomplete export folder?)", weights);
            // Built at the compute dtype asked for here; the stored tensors are fp32 master weights by default, so
            // they fit whatever the training precision was (CopyInto names any tensor whose dtype differs).
            network = new QstSideNetwork(config, manifest.Qst.Validate(config), precision, manifest.Seed);
            try { SideNetworkExport.CopyInto(network, weights, requireAll: true); }
            catch { network.Dispose(); throw; }
            return network;
        }
        if (!File.Exists(side)) throw new FileNotFoundException($"--side: '{side}' is neither a file nor an export folder", side);
        var qst = SideWeights.InferConfig(side, config).Validate(config);
        network = new QstSideNetwork(config, qst, precision, seed: 0);
        try { SideWeights.Load(network, side); }
        catch { network.Dispose(); throw; }
        return network;
    }

    public void Dispose()
    {
        _backbone.Dispose();
        _head.Dispose();
        _side?.Dispose();
    }
}
