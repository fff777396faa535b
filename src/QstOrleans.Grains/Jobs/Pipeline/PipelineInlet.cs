using QstOrleans.Grains.Transport;

namespace QstOrleans.Grains.Jobs.Pipeline;

/// <summary>
/// Puts one micro-batch of an attempt into the pipeline: its labels to the side trainer, then its tokens to the first
/// stage. Both calls only enqueue (the stage's bounded queue is the back-pressure); the results come back to the job
/// as one-way <see cref="ITrainingJobGrain.MicroBatchApplied"/> calls from the side trainer.
/// </summary>
internal sealed class PipelineInlet(string jobId, JobPlan plan, int attempt, IGrainFactory grains)
{
    readonly IBackboneStageGrain _firstStage = grains.GetGrain<IBackboneStageGrain>(plan.StageKeys[0]);
    readonly ISideTrainerGrain _side = grains.GetGrain<ISideTrainerGrain>(jobId);
    readonly PipelineRoute _route = new(jobId, plan.StageKeys, 0, attempt, QstOrleans.Model.Training.ModelBuildOptions.IsLean(plan.Spec.Taps));

    /// <summary>Sends micro-batch <paramref name="sequence"/> (epoch-major order) and returns its token count.</summary>
    public async Task<int> SendAsync(long sequence)
    {
        int epoch = (int)(sequence / plan.MicroBatchesPerEpoch);
        var batch = plan.Batches.Get(epoch, (int)(sequence % plan.MicroBatchesPerEpoch));
        long[] shape = [batch.BatchSize, batch.SequenceLength];   // [B, T]
        var mask = TensorPayloads.From(batch.AttentionMask, shape);
        await _side.SubmitBatch(new SideBatch(sequence, epoch, TensorPayloads.From(batch.Labels, shape), mask, batch.TokenCount, attempt));
        await _firstStage.Submit(new StageWork(_route, sequence, TensorPayloads.From(batch.InputIds, shape), mask));
        return batch.TokenCount;
    }
}
