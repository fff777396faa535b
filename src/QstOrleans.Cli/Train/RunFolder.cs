using QstOrleans.Model.Metrics;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;

namespace QstOrleans.Cli.Train;

/// <summary>
/// The folder <c>qst train-local --out DIR</c> writes:
/// <list type="bullet">
/// <item><c>trainable.safetensors</c>: the parameters that were trained, by module name (QST: side-network names;
/// baselines: backbone names such as <c>layers.0.self_attn.q_proj.lora_A</c>), with method/base model/seed metadata
/// (QST runs also record what <c>qst export</c> needs).</item>
/// <item>QST only: <c>side_model.safetensors</c> + <c>side_config.json</c> (<see cref="SideNetworkExport"/>).</item>
/// <item><c>training_config.json</c>: the run's whole <see cref="QstOrleans.Configuration.TrainingConfig"/>.</item>
/// <item><c>metrics.jsonl</c>: one line per step, written as training goes (<see cref="MetricsWriter"/>).</item>
/// <item><c>loss.png</c>: the loss curve (<see cref="LossPlot"/>; <c>qst plot DIR</c> redraws it).</item>
/// </list>
/// </summary>
internal static class RunFolder
{
    /// <summary>The run's whole training config, as it printed at the start.</summary>
    public const string ConfigFile = "training_config.json";

    /// <summary>Writes <see cref="ConfigFile"/> (at the start of the run, so even an interrupted run says how it trained).</summary>
    public static void SaveConfig(string directory, QstOrleans.Configuration.TrainingConfig config)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, ConfigFile), config.ToJson());
    }

    public static MetricsWriter OpenMetrics(string directory)
    {
        Directory.CreateDirectory(directory);
        return new MetricsWriter(Path.Combine(directory, MetricsWriter.FileName));
    }

    /// <summary>Writes the weights, the QST export and the plot; yields one line per file written.</summary>
    public static IEnumerable<string> Save(string directory, ITrainableModel model, ModelConfig config, string modelDirectory,
        SideNetworkTraining training, IReadOnlyList<StepReport> reports)
    {
        Directory.CreateDirectory(directory);
        var st = new SafeTensorsWriter();
        var named = model switch
        {
            QstModel q => q.Side.named_parameters().Where(p => p.parameter.requires_grad),
            BaselineModel b => b.Backbone.named_parameters().Where(p => p.parameter.requires_grad),
            _ => [],
        };
        foreach (var (name, parameter) in named)
        {
            using var detached = parameter.detach();
            st.Add(name, detached);
        }
        st.Metadata["method"] = model.Method.ToString();
        st.Metadata["base_model"] = config.Name;
        st.Metadata["seed"] = training.Seed.ToString(CultureInfo.InvariantCulture);
        if (model is QstModel qst)
            foreach (var (key, value) in SideNetworkExport.TrainableMetadata(config, qst.Side.Config, training, modelDirectory))
                st.Metadata[key] = value;
        string path = Path.Combine(directory, SideNetworkExport.TrainableFile);
        st.Write(path);
        yield return $"saved trained weights to {path}";

        if (model is QstModel q2)
        {
            SideNetworkExport.Export(q2.Side, training, directory);
            yield return $"exported the side network to {Path.Combine(directory, SideNetworkExport.WeightsFile)} + {SideNetworkExport.ConfigFile}";
        }
        yield return $"wrote metrics to {Path.Combine(directory, MetricsWriter.FileName)}";
        // optimizer.non_finite = skip can end a run whose every loss was NaN: nothing to plot, and not an error.
        if (reports.Count > 0 && !reports.Any(r => float.IsFinite(r.Loss))) yield return "no loss curve: no step had a finite loss";
        else if (reports.Count > 0)
        {
            string png = Path.Combine(directory, LossPlot.FileName);
            LossPlot.Write(reports.Select(MetricsRecord.From).ToList(), png, $"{model.Method} on {config.Name}");
            yield return $"wrote the loss curve to {png}";
        }
    }
}
