using TorchSharp.Modules;
using static TorchSharp.torch.utils.tensorboard;

namespace QstOrleans.Model.Metrics;

/// <summary>
/// TensorBoard event files (<c>events.out.tfevents.*</c>) beside <c>metrics.jsonl</c>, with the same scalars per step
/// (<c>train/loss</c>, <c>train/lr</c>, <c>train/grad_norm</c>, <c>train/tokens_per_s</c>, <c>eval/*</c>), so
/// <c>tensorboard --logdir RUN_DIR</c> shows the run. Written through TorchSharp's <see cref="SummaryWriter"/>; non-finite
/// values are left out (the jsonl file records them as null). The writer appends each event to the file as it is added
/// (it holds no open handle, so there is nothing to dispose).
/// </summary>
public sealed class TensorBoardEvents
{
    readonly SummaryWriter _writer;

    /// <param name="directory">The run folder (the events file is created in it).</param>
    public TensorBoardEvents(string directory) => _writer = SummaryWriter(directory, createRunName: false);

    public void Write(MetricsRecord r)
    {
        Scalar("train/loss", r.Loss, r.Step);
        Scalar("train/lr", r.LearningRate, r.Step);
        Scalar("train/grad_norm", r.GradNorm, r.Step);
        Scalar("train/tokens_per_s", r.TokensPerSecond, r.Step);
        if (r.ValLoss is { } vl) Scalar("eval/val_loss", vl, r.Step);
        if (r.ValPerplexity is { } vp) Scalar("eval/val_ppl", vp, r.Step);
        if (r.MmluAccuracy is { } acc) Scalar("eval/mmlu_acc", acc, r.Step);
    }

    void Scalar(string tag, double value, int step)
    {
        if (double.IsFinite(value)) _writer.add_scalar(tag, (float)value, step);
    }
}
