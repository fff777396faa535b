using QstOrleans.Cli.ModelTools;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Quantization;
using QstOrleans.Model.SafeTensors;
using static TorchSharp.torch;

namespace QstOrleans.Tests.Cli;

/// <summary>make-model → quantize → logits, checked against a second code path (quantize-on-load vs pre-quantized file).</summary>
public sealed class CheckpointCommandTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    [Fact]
    public void MakeModelWritesACompleteHfDirectory()
    {
        foreach (var file in new[] { "config.json", "model.safetensors", "tokenizer.model", "tokenizer_config.json" })
            Assert.True(File.Exists(Path.Combine(tiny.ModelDirectory, file)), file);
        var config = ModelConfig.Load(tiny.ModelDirectory);
        using var reader = CheckpointReader.Open(tiny.ModelDirectory);
        // 1 embedding + 9 tensors per layer + final norm + lm_head, all bf16
        Assert.Equal(1 + 9 * config.NumLayers + 2, reader.TensorNames.Count);
        Assert.All(reader.TensorNames, n => Assert.Equal(SafeTensorDType.BF16, reader.Info(n).DType));
        Assert.Equal(new long[] { config.VocabSize, config.HiddenSize }, reader.Info("model.embed_tokens.weight").Shape);
    }

    [Fact]
    public void MakeModelIsDeterministicForASeed()
    {
        string again = tiny.Scratch("tiny-again");
        MakeModelCommand.Run("tiny", again, seed: 7);
        Assert.Equal(File.ReadAllBytes(Path.Combine(tiny.ModelDirectory, "model.safetensors")), File.ReadAllBytes(Path.Combine(again, "model.safetensors")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(tiny.ModelDirectory, "tokenizer.model")), File.ReadAllBytes(Path.Combine(again, "tokenizer.model")));
    }

    [Fact]
    public void ShapePresetsWriteConfigOnly()
    {
        string dir = tiny.Scratch("llama2-70b");
        MakeModelCommand.Run("llama2-70b", dir, seed: 0);
        var config = ModelConfig.Load(dir);
        Assert.Equal((8192, 28672, 80, 64, 8), (config.HiddenSize, config.IntermediateSize, config.NumLayers, config.NumHeads, config.NumKeyValueHeads));
        Assert.False(File.Exists(Path.Combine(dir, "model.safetensors")));
    }

    [Fact]
    public void PreQuantizedCheckpointGivesTheSameLogitsAsQuantizingOnLoad()
    {
        string nf4Dir = tiny.Scratch("tiny-nf4");
        Program("quantize", "--model", tiny.ModelDirectory, "--out", nf4Dir);
        using (var reader = CheckpointReader.Open(nf4Dir))
        {
            // bitsandbytes layout: packed uint8 weight + absmax (uint8 with DQ) + maps + JSON quant state
            const string p = "model.layers.0.self_attn.q_proj.weight";
            Assert.Equal(SafeTensorDType.U8, reader.Info(p).DType);
            Assert.Equal(SafeTensorDType.U8, reader.Info(p + ".absmax").DType);
            Assert.True(reader.Contains(p + ".quant_state.bitsandbytes__nf4"));
            Assert.Equal(SafeTensorDType.BF16, reader.Info("model.embed_tokens.weight").DType);
        }
        Assert.Contains("quantization_config", File.ReadAllText(Path.Combine(nf4Dir, "config.json")));

        string onLoad = tiny.Scratch("logits-onload.safetensors"), preQuantized = tiny.Scratch("logits-pre.safetensors");
        Assert.Equal(0, Program("logits", "--model", tiny.ModelDirectory, "--tokens", "1,40,300,7,99", "--nf4", "--out", onLoad));
        Assert.Equal(0, Program("logits", "--model", nf4Dir, "--tokens", "1,40,300,7,99", "--nf4", "--out", preQuantized));
        using var a = SafeTensorsFile.Open(onLoad);
        using var b = SafeTensorsFile.Open(preQuantized);
        Assert.Equal(a.ReadBytes("logits"), b.ReadBytes("logits"));
        Assert.Equal(new long[] { 5, ModelConfig.Load(tiny.ModelDirectory).VocabSize }, a.Info("logits").Shape);
    }

    [Fact]
    public void Nf4LogitsEqualDenseLogitsOnTheDequantizedWeights()
    {
        // Second code path: dequantize the NF4 checkpoint to plain F32 tensors, load them densely, and
        // compare with the NF4 path (quantize on load, dequantize per matmul).
        string nf4Dir = tiny.Scratch("tiny-nf4-for-dense"), denseDir = tiny.Scratch("tiny-dequantized");
        Program("quantize", "--model", tiny.ModelDirectory, "--out", nf4Dir);
        Directory.CreateDirectory(denseDir);
        File.Copy(Path.Combine(tiny.ModelDirectory, "config.json"), Path.Combine(denseDir, "config.json"));
        using (var reader = CheckpointReader.Open(nf4Dir))
        {
            var writer = new SafeTensorsWriter();
            foreach (var name in reader.TensorNames.Where(n => !n.Contains(".weight.")))
            {
                string prefix = name[..^".weight".Length];
                if (name.EndsWith(".weight", StringComparison.Ordinal) && BnbNf4Format.IsQuantized(prefix, reader.Contains))
                {
                    using var q = BnbNf4Format.Read(prefix, reader.Contains, reader.ReadTensor, nf4Dir);
                    using var w = q.Dequantize(ScalarType.Float32);
                    writer.Add(name, w);
                }
                else
                {
                    using var t = reader.ReadTensor(name);
                    writer.Add(name, t);
                }
            }
            writer.Write(Path.Combine(denseDir, "model.safetensors"));
        }
        long[] ids = [1, 5, 9, 300, 42, 17];
        string viaNf4 = tiny.Scratch("logits-nf4.safetensors"), viaDense = tiny.Scratch("logits-dense.safetensors"), viaBf16 = tiny.Scratch("logits-bf16.safetensors");
        LogitsCommand.Run(tiny.ModelDirectory, ids, nf4: true, Precision.Float32, viaNf4);
        LogitsCommand.Run(denseDir, ids, nf4: false, Precision.Float32, viaDense);
        LogitsCommand.Run(tiny.ModelDirectory, ids, nf4: false, Precision.Float32, viaBf16);
        using var n = SafeTensorsFile.Open(viaNf4).ReadTensor("logits");
        using var d = SafeTensorsFile.Open(viaDense).ReadTensor("logits");
        using var b = SafeTensorsFile.Open(viaBf16).ReadTensor("logits");
        Assert.True(n.allclose(d, rtol: 1e-5, atol: 1e-6), $"max |nf4 - dense| = {(n - d).abs().max().item<float>()}");
        // And quantization really happened: NF4 logits differ from the original bf16 model's.
        double relative = (n - b).norm().item<float>() / b.norm().item<float>();
        Assert.InRange(relative, 1e-3, 0.5);
    }

    [Fact]
    public void LogitsRejectsAnIdOutsideTheVocabulary()
    {
        var e = Assert.Throws<ArgumentException>(() => LogitsCommand.Run(tiny.ModelDirectory, [1, 100000], false, Precision.Float32, tiny.Scratch("x.safetensors")));
        Assert.Contains("100000", e.Message);
    }

    [Fact]
    public void MissingTensorIsNamedByTheCli()
    {
        string broken = tiny.Scratch("broken");
        Directory.CreateDirectory(broken);
        File.Copy(Path.Combine(tiny.ModelDirectory, "config.json"), Path.Combine(broken, "config.json"));
        using (var reader = CheckpointReader.Open(tiny.ModelDirectory))
        {
            var writer = new SafeTensorsWriter();
            foreach (var name in reader.TensorNames.Where(n => n != "model.layers.1.mlp.up_proj.weight"))
            {
                using var t = reader.ReadTensor(name);
                writer.Add(name, t);
            }
            writer.Write(Path.Combine(broken, "model.safetensors"));
        }
        var error = new StringWriter();
        var saved = Console.Error;
        Console.SetError(error);
        try
        {
            Assert.Equal(2, Program("logits", "--model", broken, "--tokens", "1,2", "--out", tiny.Scratch("y.safetensors")));
        }
        finally
        {
            Console.SetError(saved);
        }
        Assert.Contains("model.layers.1.mlp.up_proj.weight", error.ToString());
    }

    static int Program(params string[] args)
    {
        var entry = typeof(MakeModelCommand).Assembly.EntryPoint!;
        return (int)entry.Invoke(null, [args])!;
    }
}
