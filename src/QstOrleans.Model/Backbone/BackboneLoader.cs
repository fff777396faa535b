using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Qst;
using QstOrleans.Model.Quantization;
using QstOrleans.Model.SafeTensors;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QstOrleans.Model.Backbone;

/// <summary>
/// Builds backbone stages from a Hugging Face model directory (safetensors, single file or sharded),
/// tensor by tensor: each Linear weight is read, quantized to NF4 (when asked) and released before the
/// next is read, so peak memory stays near the NF4 model plus the largest single tensor. Pre-quantized
/// bitsandbytes-layout weights (<c>weight</c> + <c>weight.absmax</c> + ...) are used as they are.
/// </summary>
/// <remarks>Throws <see cref="ModelWeightsException"/> naming the tensor when one is missing or mis-shaped.</remarks>
public static class BackboneLoader
{
    /// <summary>Loads layers [first, end) (+ embedding when first = 0, + final norm when end = N).</summary>
    public static BackboneStage LoadStage(string modelDirectory, ModelConfig config, int first, int end, BackboneOptions options)
    {
        if (first < 0 || end > config.NumLayers || first >= end)
            throw new ArgumentException($"stage layers [{first}, {end}) are not inside the model's {config.NumLayers} layers");
        using var reader = CheckpointReader.Open(modelDirectory);
        var names = TensorNames.Resolve(config, reader.Contains);
        var source = new WeightSource(reader, modelDirectory, options);
        int h = config.HiddenSize;

        Parameter? embedding = null, positions = null;
        nn.Module<Tensor, Tensor>? projectIn = null, projectOut = null, finalNorm = null;
        if (first == 0)
        {
            int e = QstConfig.OutputWidth(config);
            embedding = source.Parameter(names.Embedding, [config.VocabSize, e], options.EmbeddingDType);
            if (config.Architecture == ModelArchitecture.Opt)
            {
                positions = source.Parameter(names.Positions, [config.MaxPositionEmbeddings + ModelConfig.OptPositionOffset, h], options.EmbeddingDType);
                if (e != h) projectIn = source.DenseLinear(names.ProjectIn, h, e, bias: false);
            }
        }
        var layers = new List<DecoderLayer>();
        var shape = LayerShape.Of(config);
        for (int i = first; i < end; i++)
        {
            string prefix = names.Layer(i);
            LinearFactory linear = (name, outF, inF, bias) => source.BackboneLinear(prefix + name, outF, inF, bias);
            layers.Add(config.Architecture == ModelArchitecture.Opt
                ? new OptDecoderLayer(shape, linear, n => source.LayerNorm(prefix + n, h, 1e-5), options.Compute)
                : new LlamaDecoderLayer(shape, linear, n => source.RmsNorm(prefix + n, h, config.NormEps), options.Compute));
        }
        if (end == config.NumLayers)
        {
            finalNorm = config.Architecture == ModelArchitecture.Opt
                ? source.LayerNorm(names.FinalNorm, h, 1e-5)
                : source.RmsNorm(names.FinalNorm, h, config.NormEps);
            int e = QstConfig.OutputWidth(config);
            if (config.Architecture == ModelArchitecture.Opt && e != h) projectOut = source.DenseLinear(names.ProjectOut, e, h, bias: false);
        }
        return new BackboneStage(config, first, end, embedding, positions, projectIn, layers, finalNorm, projectOut, options.Compute);
    }

    /// <summary>Loads the whole backbone as one stage.</summary>
    public static BackboneStage LoadAll(string modelDirectory, ModelConfig config, BackboneOptions options) =>
        LoadStage(modelDirectory, config, 0, config.NumLayers, options);

    /// <summary>The frozen LM head [V, E] (the embedding when <c>tie_word_embeddings</c>), bf16 unless fp32 is asked.</summary>
    public static FrozenLmHead LoadLmHead(string modelDirectory, ModelConfig config, BackboneOptions options)
    {
        using var reader = CheckpointReader.Open(modelDirectory);
        var names = TensorNames.Resolve(config, reader.Contains);
        string name = !config.TieWordEmbeddings && reader.Contains(names.LmHead) ? names.LmHead : names.Embedding;
        if (!config.TieWordEmbeddings && !reader.Contains(names.LmHead) && config.Architecture == ModelArchitecture.Llama)
            throw new ModelWeightsException(modelDirectory, names.LmHead, "is missing (config says tie_word_embeddings = false)");
        var source = new WeightSource(reader, modelDirectory, options);
        var w = source.Read(name, [config.VocabSize, QstConfig.OutputWidth(config)], options.Trainable ? ScalarType.Float32 : options.EmbeddingDType);
        return new FrozenLmHead(w, options.Compute);
    }


    /// <summary>Reads checked tensors from the checkpoint and turns them into modules.</summary>
    sealed class WeightSource(CheckpointReader reader, string directory, BackboneOptions options)
    {
        public SafeTensorInfo CheckedInfo(string name, long[] shape)
        {
            if (!reader.Contains(name)) throw new ModelWeightsException(directory, name, "is missing");
            var info = reader.Info(name);
            if (!info.Shape.SequenceEqual(shape))
                throw new ModelWeightsException(reader.FileOf(name), name, $"has shape [{string.Join(", ", info.Shape)}] but the config needs [{string.Join(", ", shape)}]");
            return info;
        }

        public Tensor Read(string name, long[] shape, ScalarType dtype)
        {
            CheckedInfo(name, shape);
            // Every intermediate handle (the read tensor, the cast, the detach alias) must be freed now:
            // left to the GC finalizer, each would pin a full-size copy of the weight until collection.
            using var scope = NewDisposeScope();
            var raw = reader.ReadTensor(name);
            var converted = raw.dtype == dtype ? raw : raw.to(dtype);
            if (!options.OnCpu) converted = converted.to(options.Target);
            return converted.detach().MoveToOuterDisposeScope();
        }

        public Parameter Parameter(string name, long[] shape, ScalarType dtype) =>
            new(Read(name, shape, dtype), requires_grad: options.Trainable);

        public RmsNorm RmsNorm(string prefix, int width, double eps) =>
            new(Read(prefix + ".weight", [width], ScalarType.Float32), eps, options.Trainable);

        public LayerNorm32 LayerNorm(string prefix, int width, double eps) =>
            new(Read(prefix + ".weight", [width], ScalarType.Float32), Read(prefix + ".bias", [width], ScalarType.Float32), eps, options.Trainable);

        public DenseLinear DenseLinear(string prefix, int outF, int inF, bool bias)
        {
            var dtype = options.Trainable || options.Format == WeightFormat.Float32 ? ScalarType.Float32 : ScalarType.BFloat16;
            return new DenseLinear(Read(prefix + ".weight", [outF, inF], dtype), bias ? Read(prefix + ".bias", [outF], dtype) : null, options.Trainable);
        }

        /// <summary>One decoder-layer projection in the requested format, quantizing while loading.</summary>
        public nn.Module<Tensor, Tensor> BackboneLinear(string prefix, int outF, int inF, bool bias)
        {
            nn.Module<Tensor, Tensor> linear;
            bool preQuantized = BnbNf4Format.IsQuantized(prefix, reader.Contains);
            if (options.Format == WeightFormat.Nf4 && !options.Trainable)
            {
                Nf4Tensor q;
                if (preQuantized)
                {
                    q = BnbNf4Format.Read(prefix, reader.Contains, reader.ReadTensor, directory);
                    if (!q.Shape.SequenceEqual(new long[] { outF, inF }))
                        throw new ModelWeightsException(directory, prefix + ".weight", $"is quantized with shape [{string.Join(", ", q.Shape)}] but the config needs [{outF}, {inF}]");
                }
                else
                {
                    // Quantize straight from the memory-mapped file: the dense weight is never copied
                    // into process memory, so loading peaks at the NF4 model, not the bf16 one.
                    string name = prefix + ".weight";
                    var info = CheckedInfo(name, [outF, inF]);
                    var dtype = SafeTensorDTypes.ToTorch(info.DType);
                    q = dtype is ScalarType.BFloat16 or ScalarType.Float16 or ScalarType.Float32
                        ? reader.WithMappedBytes(name, (address, _) => Nf4Quantizer.Quantize(address, dtype, info.Shape, options.DoubleQuant))
                        : throw new ModelWeightsException(reader.FileOf(name), name, $"has dtype {info.DType}; NF4 needs F32, F16 or BF16");
                }
                if (!options.OnCpu)
                {
                    var onDevice = q.To(options.Target);
                    q.Dispose();
                    q = onDevice;
                }
                var b = bias ? Read(prefix + ".bias", [outF], ScalarType.Float32) : null;
                linear = new Nf4Linear(q, b) { CacheDequantized = options.CacheDequantized };
            }
            else
            {
                var dtype = options.Trainable || options.Format == WeightFormat.Float32 ? ScalarType.Float32 : ScalarType.BFloat16;
                Tensor w;
                if (preQuantized)
                {
                    using var q = BnbNf4Format.Read(prefix, reader.Contains, reader.ReadTensor, directory);
                    using var deq = q.Dequantize(ScalarType.Float32);
                    w = deq.to(dtype, options.Target).clone();
                }
                else
                {
                    w = Read(prefix + ".weight", [outF, inF], dtype);
                }
                linear = new DenseLinear(w, bias ? Read(prefix + ".bias", [outF], dtype) : null, options.Trainable);
            }
            return options.WrapLinear is null ? linear : options.WrapLinear(prefix, linear);
        }
    }
}
