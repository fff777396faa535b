using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.Devices;
using QstOrleans.Model.Layers;
using QstOrleans.Model.SafeTensors;
using static TorchSharp.torch;

namespace QstOrleans.Cli.ModelTools;

/// <summary>
/// <c>qst logits --model DIR --tokens 1,2,3 [--nf4] [--dtype bf16|fp32] [--device cpu|cuda:N] --out FILE</c>: runs the
/// backbone and LM head on the ids and writes a safetensors file with one F32 tensor <c>logits</c> [T, V].
/// </summary>
internal static class LogitsCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Model directory (HF or NF4 checkpoint)", Required = true };
        var tokens = new Option<string>("--tokens") { Description = "Comma-separated token ids", Required = true };
        var nf4 = new Option<bool>("--nf4") { Description = "Quantize decoder linears to NF4 (double quant) while loading" };
        var dtype = new Option<string>("--dtype") { Description = "Compute dtype: bf16 or fp32", DefaultValueFactory = _ => "bf16" };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N", DefaultValueFactory = _ => "cpu" };
        var output = new Option<string>("--out") { Description = "Output .safetensors file", Required = true };
        var command = new Command("logits", "Write the model's logits for a token sequence (check that a model loads correctly).") { model, tokens, nf4, dtype, device, output };
        command.SetAction(r => CliErrors.Run(() =>
        {
            var ids = ParseTokens(r.GetValue(tokens)!);
            Run(r.GetValue(model)!, ids, r.GetValue(nf4), Precision.Parse(r.GetValue(dtype)!), r.GetValue(output)!, ComputeDevice.Parse(r.GetValue(device)!));
            Console.WriteLine($"wrote logits [{ids.Length}, vocab] to {r.GetValue(output)}");
            return 0;
        }));
        return command;
    }

    public static long[] ParseTokens(string text)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new ArgumentException("--tokens: give at least one token id");
        return parts.Select(p => long.TryParse(p, out var v) && v >= 0 ? v : throw new ArgumentException($"--tokens: '{p}' is not a token id")).ToArray();
    }

    public static void Run(string modelDirectory, long[] ids, bool nf4, Precision precision, string outputFile, Device? device = null)
    {
        device ??= CPU;
        var config = ModelConfig.Load(modelDirectory);
        foreach (var id in ids)
            if (id >= config.VocabSize) throw new ArgumentException($"--tokens: id {id} is outside the vocabulary (vocab_size {config.VocabSize})");
        var format = nf4 ? WeightFormat.Nf4 : precision.Compute == ScalarType.Float32 ? WeightFormat.Float32 : WeightFormat.BFloat16;
        var options = new BackboneOptions(format, DoubleQuant: true, Precision: precision, Device: device);
        using var stage = BackboneLoader.LoadAll(modelDirectory, config, options);
        using var head = BackboneLoader.LoadLmHead(modelDirectory, config, options);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var input = tensor(ids, [1, ids.Length], device: device);
        using var context = AttentionContext.Create(ones_like(input));
        using var output = stage.Forward(input, context, collectTaps: false);
        var logits = head.Forward(output.FinalNormed!).squeeze(0).cpu();               // [T, V] fp32
        var writer = new SafeTensorsWriter();
        writer.Add("logits", logits);
        writer.Metadata["model"] = Path.GetFullPath(modelDirectory);
        writer.Metadata["weights"] = format.ToString();
        writer.Metadata["compute"] = precision.ToString();
        writer.Metadata["device"] = ComputeDevice.Describe(device);
        writer.Write(outputFile);
    }
}
