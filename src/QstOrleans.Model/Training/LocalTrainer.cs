using QstOrleans.Model.Metrics;
using System.Diagnostics;
using QstOrleans.Model.Recipe;
using static TorchSharp.torch;

namespace QstOrleans.Model.Training;

/// <summary>
/// The single-process trainer: micro-batches in the given order, gradient accumulation, AdamW with a
/// schedule and clipping, one report per optimizer step. One dispose scope per micro-batch keeps native
/// memory flat however long the run. It is the reference the distributed trainer must match step for step.
/// </summary>
public sealed class LocalTrainer(ITrainableModel model, OptimizerConfig optimizer, TrainerConfig config)
{
    /// <summary>Trains on micro-batches grouped by epoch; yields one report per optimizer step.</summary>
    /// <param name="epochs">For each epoch e, that epoch's micro-batches in order.</param>
    /// <param name="totalSteps">Optimizer steps in the whole run (drives the lr schedule).</param>
    /// <param name="afterStep">Optional hook run after each optimizer step, outside the tokens/s clock (evaluation:
    /// see <see cref="Evaluation.PeriodicEvaluator"/>); the report it returns is the one yielded.</param>
    public IEnumerable<StepReport> Train(Func<int, IEnumerable<MicroBatch>> epochs, int totalSteps, Func<StepReport, StepReport>? afterStep = null)
    {
        set_num_threads(config.Threads);
        using var stepper = new OptimizerStepper(model.TrainableParameters, optimizer, config.GradientAccumulation, totalSteps);
        var step = new TrainingStep(stepper);
        // QST trains through the side micro-step the side-trainer grain runs too; the baselines through their chunked head loss.
        var qst = model as QstModel;
        var sideStep = qst is null ? null : new SideMicroStep(qst.Side, qst.LmHead, step);
        var device = model.Device;
        var clock = Stopwatch.StartNew();
        PhaseTotals Totals() => new(qst?.BackboneSeconds ?? 0, stepper.BackwardSeconds, stepper.ApplySeconds);
        var phasesBefore = Totals();
        long tokens = 0;
        for (int epoch = 0; epoch < config.Epochs; epoch++)
        {
            foreach (var batch in epochs(epoch))
            {
                using (var scope = NewDisposeScope())
                {
                    var (ids, labels, mask) = batch.ToTensors(device);                   // [B, T] each
                    if (sideStep is not null) qst!.Accumulate(sideStep, ids, mask, labels);
                    else if (model is BaselineModel baseline) baseline.Accumulate(step, ids, mask, labels);   // no [B, T, V] logits
                    else step.Accumulate(CausalLmLoss.Compute(model.Logits(ids, mask), labels));   // logits [B, T, V]
                }
                tokens += batch.TokenCount;
                if (step.ApplyIfDue() is not { } applied) continue;
                double seconds = clock.Elapsed.TotalSeconds;
                var phasesAfter = Totals();
                var report = new StepReport(applied.Step, epoch, applied.Loss, applied.LearningRate, applied.GradNorm,
                    tokens / Math.Max(seconds, 1e-9), ProcessMemory.PeakResidentBytes(), Skipped: applied.Skipped,
                    Phases: StepPhases.Between(phasesBefore, phasesAfter, seconds));
                yield return afterStep is null ? report : afterStep(report);
                clock.Restart();
                phasesBefore = Totals();
                tokens = 0;
                if (config.MaxSteps > 0 && applied.Step >= config.MaxSteps) yield break;
            }
        }
    }
}
