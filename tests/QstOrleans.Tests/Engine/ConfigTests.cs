using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Engine;

/// <summary>config.json parsing (hand-written Llama-2, Llama-3.1, OPT files) and error messages naming file and field/tensor.</summary>
public sealed class ConfigTests
{
    // Llama-2-7b-hf's config.json as published (no num_key_value_heads, no rope_theta).
    const string Llama2 = """
        {"architectures":["LlamaForCausalLM"],"bos_token_id":1,"eos_token_id":2,"hidden_act":"silu","hidden_size":4096,
         "initializer_range":0.02,"intermediate_size":11008,"max_position_embeddings":4096,"model_type":"llama",
         "num_attention_heads":32,"num_hidden_layers":32,"pretraining_tp":1,"rms_norm_eps":1e-05,"rope_scaling":null,
         "tie_word_embeddings":false,"torch_dtype":"float16","transformers_version":"4.31.0.dev0","use_cache":true,"vocab_size":32000}
        """;

    // Llama-3.1-8B: GQA, rope_theta 500000, a list of eos ids, llama3 rope scaling.
    const string Llama3 = """
        {"architectures":["LlamaForCausalLM"],"attention_bias":false,"attention_dropout":0.0,"bos_token_id":128000,
         "eos_token_id":[128001,128008,128009],"hidden_act":"silu","hidden_size":4096,"initializer_range":0.02,
         "intermediate_size":14336,"max_position_embeddings":131072,"mlp_bias":false,"model_type":"llama",
         "num_attention_heads":32,"num_hidden_layers":32,"num_key_value_heads":8,"pretraining_tp":1,"rms_norm_eps":1e-05,
         "rope_scaling":{"factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192,"rope_type":"llama3"},
         "rope_theta":500000.0,"tie_word_embeddings":false,"torch_dtype":"bfloat16","vocab_size":128256}
        """;

    // facebook/opt-1.3b.
    const string Opt = """
        {"activation_dropout":0.0,"activation_function":"relu","architectures":["OPTForCausalLM"],"attention_dropout":0.0,
         "bos_token_id":2,"do_layer_norm_before":true,"dropout":0.1,"eos_token_id":2,"ffn_dim":8192,"hidden_size":2048,
         "init_std":0.02,"layerdrop":0.0,"max_position_embeddings":2048,"model_type":"opt","num_attention_heads":32,
         "num_hidden_layers":24,"pad_token_id":1,"prefix":"</s>","torch_dtype":"float16","use_cache":true,
         "vocab_size":50272,"word_embed_proj_dim":2048}
        """;

    [Fact]
    public void Llama2DefaultsKvHeadsToHeadsAndRopeThetaTo10000()
    {
        using var dir = new TestDirectory();
        dir.Write("config.json", Llama2);
        var c = ModelConfig.Load(dir.Path);
        Assert.Equal(ModelArchitecture.Llama, c.Architecture);
        Assert.Equal((4096, 11008, 32, 32, 32, 128), (c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.Equal(10000.0, c.RopeTheta);
        Assert.Null(c.RopeScaling);
        Assert.Equal(1e-5, c.NormEps);
        Assert.Equal((32000, 4096, false, 1, 2), (c.VocabSize, c.MaxPositionEmbeddings, c.TieWordEmbeddings, c.BosTokenId, c.EosTokenId));
        // Same shape as the preset the parameter counts use.
        var preset = ModelPresets.Get("llama2-7b");
        Assert.Equal((preset.HiddenSize, preset.IntermediateSize, preset.NumLayers, preset.NumHeads, preset.NumKeyValueHeads, preset.HeadDim),
            (c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKeyValueHeads, c.HeadDim));
    }

    [Fact]
    public void Transformers5RopeParametersCarryThetaAndScaling()
    {
        // transformers >= 5 writes one rope_parameters object instead of rope_theta + rope_scaling.
        using var dir = new TestDirectory();
        string plain = Llama2.Replace("\"rope_scaling\":null", "\"rope_parameters\":{\"rope_theta\":250000.0,\"rope_type\":\"default\"}");
        var c = ModelConfig.Load(dir.Write("config.json", plain));
        Assert.Equal(250000.0, c.RopeTheta);
        Assert.Null(c.RopeScaling);

        string scaled = Llama3.Replace("\"rope_scaling\":{", "\"rope_parameters\":{\"rope_theta\":500000.0,").Replace("\"rope_theta\":500000.0,\"tie", "\"tie");
        var s = ModelConfig.Load(dir.Write("config.json", scaled));
        Assert.Equal(500000.0, s.RopeTheta);
        Assert.Equal(new RopeScaling("llama3", 8.0, 1.0, 4.0, 8192), s.RopeScaling);
    }

    [Fact]
    public void Llama3GqaRopeThetaEosListAndLlama3Scaling()
    {
        using var dir = new TestDirectory();
        var c = ModelConfig.Load(dir.Write("config.json", Llama3));
        Assert.Equal((32, 8, 128), (c.NumHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.Equal(1024, c.KvDim);
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.Equal(128001, c.EosTokenId);     // the first of the list
        Assert.Equal(128000, c.BosTokenId);
        Assert.Equal(128256, c.VocabSize);
        Assert.Equal(new RopeScaling("llama3", 8.0, 1.0, 4.0, 8192), c.RopeScaling);

        // Inverse frequencies with llama3 scaling, worked out here from the published rule: wavelengths
        // below 8192/4 keep their frequency, above 8192/1 are divided by 8, in between blend linearly.
        var inv = RotaryEmbedding.InverseFrequencies(c.HeadDim, c.RopeTheta, c.RopeScaling);
        for (int j = 0; j < c.HeadDim / 2; j++)
        {
            double f = Math.Pow(500000.0, -2.0 * j / 128), wavelen = 2 * Math.PI / f, expected;
            if (wavelen < 2048) expected = f;
            else if (wavelen > 8192) expected = f / 8;
            else
            {
                double smooth = (8192 / wavelen - 1) / 3;
                expected = (1 - smooth) * f / 8 + smooth * f;
            }
            Assert.Equal(expected, inv[j], expected * 1e-6);
        }
        Assert.Equal(1.0, inv[0], 6);
        Assert.Equal(Math.Pow(500000.0, -126.0 / 128) / 8, inv[63], 1e-12);
    }

    [Fact]
    public void OptConfig()
    {
        using var dir = new TestDirectory();
        var c = ModelConfig.Load(dir.Write("config.json", Opt));
        Assert.Equal(ModelArchitecture.Opt, c.Architecture);
        Assert.Equal((2048, 8192, 24, 32, 32, 64), (c.HiddenSize, c.IntermediateSize, c.NumLayers, c.NumHeads, c.NumKeyValueHeads, c.HeadDim));
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal("relu", c.HiddenAct);
        Assert.Equal(1, c.PadTokenId);
        Assert.Equal(2048, c.WordEmbedProjDim);
        Assert.True(c.EnableBias);
    }

    static ModelConfigException LoadFails(TestDirectory dir, string json, out string path)
    {
        path = dir.Write("config.json", json);
        string p = path;
        return Assert.Throws<ModelConfigException>(() => ModelConfig.Load(p));
    }

    [Fact]
    public void MissingHiddenSizeNamesFileAndField()
    {
        using var dir = new TestDirectory();
        var e = LoadFails(dir, Llama2.Replace("\"hidden_size\":4096,", ""), out var path);
        Assert.Equal("hidden_size", e.Field);
        Assert.Contains(path, e.Message);
        Assert.Contains("hidden_size", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void WrongTypeNamesFileAndField()
    {
        using var dir = new TestDirectory();
        var e = LoadFails(dir, Llama2.Replace("\"num_hidden_layers\":32", "\"num_hidden_layers\":\"32\""), out var path);
        Assert.Equal("num_hidden_layers", e.Field);
        Assert.Contains(path, e.Message);
        Assert.Contains("integer", e.Message);
    }

    [Fact]
    public void UnsupportedRopeScalingIsRejected()
    {
        using var dir = new TestDirectory();
        var e = LoadFails(dir, Llama2.Replace("\"rope_scaling\":null", "\"rope_scaling\":{\"type\":\"dynamic\",\"factor\":2.0}"), out var path);
        Assert.Contains(path, e.Message);
        Assert.Contains("rope_scaling", e.Message);
        Assert.Contains("dynamic", e.Message);
    }

    [Fact]
    public void WrongActivationAndBadJsonAreRejected()
    {
        using var dir = new TestDirectory();
        var e = LoadFails(dir, Llama2.Replace("\"silu\"", "\"gelu\""), out _);
        Assert.Equal("hidden_act", e.Field);
        var bad = LoadFails(dir, "{\"hidden_size\": 4096,", out var path);
        Assert.Contains(path, bad.Message);
        var missing = Assert.Throws<ModelConfigException>(() => ModelConfig.Load(dir.File("nope.json")));
        Assert.Contains("nope.json", missing.Message);
    }

    [Theory]
    [InlineData(WeightFormat.Float32)]
    [InlineData(WeightFormat.Nf4)]
    public void MissingTensorIsNamed(WeightFormat format)
    {
        const string name = "model.layers.1.self_attn.k_proj.weight";
        using var dir = new TestDirectory();
        TinyLlama.Write(dir.Path, TinyLlama.Config, 1, (n, t) => n == name ? null : t);
        var e = Assert.Throws<ModelWeightsException>(() =>
            BackboneLoader.LoadAll(dir.Path, TinyLlama.Config, new BackboneOptions(format, true, Precision.Float32)));
        Assert.Equal(name, e.TensorName);
        Assert.Contains(name, e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Theory]
    [InlineData(WeightFormat.Float32)]
    [InlineData(WeightFormat.Nf4)]
    public void MisShapedTensorIsNamedWithBothShapes(WeightFormat format)
    {
        const string name = "model.layers.0.mlp.up_proj.weight";
        using var dir = new TestDirectory();
        TinyLlama.Write(dir.Path, TinyLlama.Config, 1, (n, t) =>
        {
            if (n != name) return t;
            t.Dispose();
            return zeros(128, 32, dtype: ScalarType.BFloat16);
        });
        var e = Assert.Throws<ModelWeightsException>(() =>
            BackboneLoader.LoadAll(dir.Path, TinyLlama.Config, new BackboneOptions(format, true, Precision.Float32)));
        Assert.Equal(name, e.TensorName);
        Assert.Contains("[128, 32]", e.Message);
        Assert.Contains("[128, 64]", e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void MissingLmHeadIsNamed()
    {
        using var dir = new TestDirectory();
        TinyLlama.Write(dir.Path, TinyLlama.Config, 1, (n, t) => n == "lm_head.weight" ? null : t);
        var e = Assert.Throws<ModelWeightsException>(() =>
            BackboneLoader.LoadLmHead(dir.Path, TinyLlama.Config, new BackboneOptions(WeightFormat.Float32, false, Precision.Float32)));
        Assert.Equal("lm_head.weight", e.TensorName);
    }
}
