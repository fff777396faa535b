using QstOrleans.Model.Checkpoints;

namespace QstOrleans.Cli.ModelTools;

/// <summary><c>qst quantize --model DIR --out DIR [--double-quant true|false]</c>: an NF4 checkpoint in the bitsandbytes/HF layout.</summary>
internal static class QuantizeCommand
{
    public static Command Create()
    {
        var model = new Option<string>("--model") { Description = "Hugging Face model directory", Required = true };
        var output = new Option<string>("--out") { Description = "Output directory for the NF4 checkpoint", Required = true };
        var dq = new Option<bool>("--double-quant") { Description = "Quantize the absmax vector too (8-bit, blocks of 256)", DefaultValueFactory = _ => true };
        var command = new Command("quantize", "Write a pre-quantized NF4 checkpoint (bitsandbytes layout) so loading skips quantization.") { model, output, dq };
        command.SetAction(r => CliErrors.Run(() =>
        {
            Nf4CheckpointWriter.Write(r.GetValue(model)!, r.GetValue(output)!, r.GetValue(dq));
            Console.WriteLine($"wrote NF4{(r.GetValue(dq) ? " + double quant" : "")} checkpoint to {r.GetValue(output)}");
            return 0;
        }));
        return command;
    }
}
