using QstOrleans.Data.Tokenization;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.Generation;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using static TorchSharp.torch;

namespace QstOrleans.Cli.Commands;

/// <summary>
/// What <c>qst generate</c> and <c>qst chat</c> load: tokenizer, backbone (NF4 or bf16/fp32), LM head and,
/// with a side-weights file, the trained QST side network (its r and adapter size read from the file).
/// </summary>
internal sealed class LoadedGenerator : IDisposable
{
    readonly BackboneStage _backbone;
    readonly FrozenLmHead _head;
    readonly QstSideNetwork? _side;

    LoadedGenerator(ModelConfig config, ModelTokenizer tokenizer, BackboneStage backbone, FrozenLmHead head, QstSideNetwork? side, string description)
    {
        Config = config;
        Tokenizer = tokenizer;
        _backbone = backbone;
        _head = head;
        _side = side;
        Generator = new TokenGenerator(new GenerationModel([backbone], head, side));
        Description = description;
    }

    public ModelConfig Config { get; }
    public ModelTokenizer Tokenizer { get; }
    public TokenGenerator Generator { get; }
    /// <summary>One line: model, weights, side network.</summary>
    public string Description { get; }
    /// <summary>EOS ids: the tokenizer's and config.json's (they can differ, e.g. Llama 3 instruct).</summary>
    public IReadOnlyCollection<int> StopTokens => new HashSet<int> { Tokenizer.EosId, Config.EosTokenId };

    /// <param name="model">HF model directory; null = the embedded tiny model.</param>
    /// <param name="side">trainable.safetensors of a QST run; null = the plain pre-trained model.</param>
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
        QstSideNetwork? sideNetwork = null;
        if (side is not null)
        {
            var qst = SideWeights.InferConfig(side, config).Validate(config);
            sideNetwork = new QstSideNetwork(config, qst, precision, seed: 0);
            try { SideWeights.Load(sideNetwork, side); }
            catch { sideNetwork.Dispose(); throw; }
        }
        var backbone = BackboneLoader.LoadAll(dir, config, options);
        var head = BackboneLoader.LoadLmHead(dir, config, options);
        string what = $"{config.Name} ({format}, {precision} compute)" +
                      (side is null ? ", no side network" : $", QST side network from {side}");
        return new LoadedGenerator(config, tokenizer, backbone, head, sideNetwork, what);
    }

    public void Dispose()
    {
        _backbone.Dispose();
        _head.Dispose();
        _side?.Dispose();
    }
}
