using QstOrleans.Model.Attention;
using QstOrleans.Model.Layers;
using System.Text;
using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Configuration;
using QstOrleans.Model.Config;
using QstOrleans.Model.Qst;
using static QstOrleans.Cli.Bench.Reports.MarkdownTable;

namespace QstOrleans.Cli.Bench.Compare;

/// <summary>The interleaved comparison (<c>qst bench compare</c>) as Markdown: one table per shape, then the ratios against QST.</summary>
public static class CompareMarkdown
{
    public static string Section(IReadOnlyList<ComparedRun> runs)
    {
        var sb = new StringBuilder("## 0. Interleaved comparison (`qst bench compare`)\n\n");
        sb.Append("Each configuration trained in its own process, interleaved over the rounds, each round starting one configuration later (A B C, B C A, …; records from before session 8 ran A B C every round). tokens/s = median over every ");
        sb.Append("measured step of every round (min–max); peak = training VmHWM (reset after loading), median over rounds (min–max); ");
        sb.Append("above load = peak − RSS after loading the model; above floor = peak − RSS before the model. MiB. ");
        sb.Append("`+gc` = every decoder layer recomputed in backward (the HF `qlora.py` default); QST keeps no backbone graph.\n\n");
        foreach (var group in runs.GroupBy(r => (r.Shape.Model, r.Shape.Batch, r.Shape.Sequence)))
        {
            var rows = group.ToList();
            var first = rows[0];
            sb.Append("**").Append(first.Shape.Describe()).Append("**  \n");
            sb.Append("`").Append(first.Command).Append("` — ").Append(CultureInfo.InvariantCulture, $"{first.Date:yyyy-MM-dd HH:mm} UTC, load average {first.LoadAverage}\n\n");
            sb.Append(MarkdownTable.Render(
                ["configuration", "trainable", "tokens/s median", "min–max", "steps timed", "rounds", "peak RSS", "peak min–max", "above load", "above floor", "loss first → last"],
                rows.Select(x => (IReadOnlyList<string>)[
                    x.Label, x.TrainableParameters.ToString("N0", CultureInfo.InvariantCulture), Num(x.TokensPerSecond, 1),
                    $"{Num(x.TokensPerSecondMin, 1)}–{Num(x.TokensPerSecondMax, 1)}", Str(x.StepsTimed), Str(x.Rounds),
                    MiB(x.PeakRssTraining), $"{MiB(x.PeakRssTrainingMin)}–{MiB(x.PeakRssTrainingMax)}", MiB(x.PeakAboveLoad), MiB(x.PeakAboveFloor),
                    $"{Num(x.FirstLoss, 3)} → {Num(x.LastLoss, 3)}"]),
                [false, true, true, true, true, true, true, true, true, true, false]));
            sb.Append('\n');
            // The reference QST is what every other row is compared with: the backbone's head count; the training default's
            // side-score dtype (qst.side_scores_bf16, bf16 since session 8) when measured, else the other; the engine's
            // recompute kernel when measured, then fused, then the eager one of older records.
            var qst = rows.Where(r => r.Method == "qst" && r.SideHeads == 0)
                .OrderBy(r => r.SideScoresBf16 == TrainingConfig.Defaults.Qst.SideScoresBf16 ? 0 : 1)
                .ThenBy(r => Array.IndexOf(AttentionKernels.Names, r.Attention)).FirstOrDefault();
            if (qst is null) continue;
            var config = Preset(first.Shape);
            sb.Append("Against QST (speed: QST's median ÷ the configuration's; memory: the configuration's ÷ QST's; FLOP ceiling: the configuration's ");
            sb.Append("matmul FLOPs per token ÷ QST's, `FlopCeiling`, the speed ratio if every FLOP cost the same; with this engine's chunked loss, ");
            sb.Append("which recomputes the head in backward for every method, and with a plain loss as the paper's code has):\n\n");
            sb.Append(MarkdownTable.Render(["configuration", "QST speed ÷", "FLOP ceiling", "ceiling, plain loss", "peak RSS ÷ QST's", "above load ÷ QST's", "above floor ÷ QST's"],
                rows.Where(r => r != qst).Select(x => (IReadOnlyList<string>)[
                    x.Label, Num(BenchRatios.Ratio(qst.TokensPerSecond, x.TokensPerSecond), 2) + "×",
                    config is null ? "" : Num(FlopCeiling.VersusQst(config, x.Method, x.GradientCheckpointing, x.Shape.Sequence), 2) + "×",
                    config is null ? "" : Num(FlopCeiling.VersusQst(config, x.Method, x.GradientCheckpointing, x.Shape.Sequence, headRecompute: false), 2) + "×",
                    Num(BenchRatios.Ratio(x.PeakRssTraining, qst.PeakRssTraining), 2) + "×",
                    Num(BenchRatios.Ratio(x.PeakAboveLoad, qst.PeakAboveLoad), 2) + "×",
                    Num(BenchRatios.Ratio(x.PeakAboveFloor, qst.PeakAboveFloor), 2) + "×"]),
                [false, true, true, true, true, true, true]));
            sb.Append('\n');
        }
        sb.Append(MemoryModelCheck(runs));
        sb.Append(ComparePaperRow.Paragraph(runs));
        return sb.ToString();
    }

    /// <summary>
    /// The analytic model (<see cref="MemoryModel"/> with today's levers: chunked loss, QLoRA decoding again in backward,
    /// recompute where on) against the measured training peak above the runtime floor, and its figures for Llama-2 7B/13B/70B.
    /// </summary>
    public static string MemoryModelCheck(IReadOnlyList<ComparedRun> runs)
    {
        var sb = new StringBuilder("### Analytic memory model against these runs\n\n");
        sb.Append("Model = `MemoryModel.Estimate` with `EngineLevers.Current` (weights + gradients + AdamW + activations); measured = peak − floor ");
        sb.Append("(the process's training peak above RSS with libtorch initialised, before the model). Error = model ÷ measured − 1. MiB.\n\n");
        var rows = new List<IReadOnlyList<string>>();
        foreach (var x in runs)
        {
            var config = Preset(x.Shape);
            if (config is null || Map(x.Method) is not { } method) continue;
            double model = MemoryModel.Estimate(config, method, x.Shape.Batch, x.Shape.Sequence, new QstConfig { SideHeads = x.SideHeads, SideScoresBf16 = x.SideScoresBf16 },
                engine: EngineLevers.Current(x.GradientCheckpointing) with { Attention = AttentionKernels.Parse(x.Attention) }).Total;
            rows.Add([x.Shape.Model, $"{x.Shape.Batch} × {x.Shape.Sequence}", x.Label, MiB(model), MiB(x.PeakAboveFloor),
                (model / x.PeakAboveFloor - 1).ToString("+0%;-0%", CultureInfo.InvariantCulture)]);
        }
        sb.Append(MarkdownTable.Render(["model", "batch × seq", "configuration", "model MiB", "measured MiB", "error"], rows,
            [false, false, false, true, true, true])).Append('\n');
        sb.Append("The same model at the paper's shapes (batch 1 × 1024, today's levers and defaults, bf16 side scores included; \"1 head\" = `qst.side_heads = 1`), GB = 10⁹ B:\n\n");
        var presets = new List<IReadOnlyList<string>>();
        foreach (var preset in new[] { "llama2-7b", "llama2-13b", "llama2-70b" })
        {
            var c = ModelPresets.Get(preset);
            double qst = MemoryModel.Estimate(c, BenchMethod.Qst, 1, 1024, engine: EngineLevers.Current(false)).Total;
            double qstOne = MemoryModel.Estimate(c, BenchMethod.Qst, 1, 1024, new QstConfig { SideHeads = 1 }, engine: EngineLevers.Current(false)).Total;
            double qlora = MemoryModel.Estimate(c, BenchMethod.QLora, 1, 1024, engine: EngineLevers.Current(false)).Total;
            double qloraGc = MemoryModel.Estimate(c, BenchMethod.QLora, 1, 1024, engine: EngineLevers.Current(true)).Total;
            presets.Add([preset, Gb(qst), Gb(qstOne), Gb(qlora), Gb(qloraGc), Num(qlora / qst, 2) + "×", Num(qloraGc / qst, 2) + "×",
                Num(qlora / qstOne, 2) + "×", Num(qloraGc / qstOne, 2) + "×"]);
        }
        sb.Append(MarkdownTable.Render(["model", "QST GB", "QST 1 head GB", "QLoRA GB", "QLoRA+gc GB", "QLoRA ÷ QST", "QLoRA+gc ÷ QST",
            "QLoRA ÷ QST 1 head", "QLoRA+gc ÷ QST 1 head"], presets, [false, true, true, true, true, true, true, true, true])).Append('\n');
        return sb.ToString();
    }

    static BenchMethod? Map(string method) => method switch
    {
        "qst" => BenchMethod.Qst, "qst-cached" => BenchMethod.QstCached, "qlora" => BenchMethod.QLora, "lora" => BenchMethod.Lora, "full" => BenchMethod.Full,
        _ => null,
    };

    /// <summary>The preset a record was measured on: by name, else the preset of the same shape (a <c>--model</c> folder
    /// written from a preset is named after its folder); null when none matches.</summary>
    static ModelConfig? Preset(BenchShape shape)
    {
        if (ModelPresets.Names.Contains(shape.Model)) return ModelPresets.Get(shape.Model);
        return ModelPresets.Names.Select(n => ModelPresets.Get(n)).FirstOrDefault(c =>
            c.HiddenSize == shape.Hidden && c.IntermediateSize == shape.Intermediate && c.NumLayers == shape.Layers &&
            c.NumHeads == shape.Heads && c.VocabSize == shape.Vocab && c.Architecture == ModelArchitecture.Llama);
    }

    static string Str(int v) => v.ToString(CultureInfo.InvariantCulture);
}
