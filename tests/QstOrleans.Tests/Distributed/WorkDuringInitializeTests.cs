using System.Collections.Concurrent;

namespace QstOrleans.Tests.Distributed;

/// <summary>
/// The side trainer serves pipeline work while its <see cref="ISideTrainerGrain.Initialize"/> runs. A re-initialization
/// (a recovery) waits for the stages to take the new attempt's W_A, and a stage first stops the old attempt's lean-taps
/// worker, which may be in the middle of sending U to this side trainer: if that send queued behind Initialize, the two
/// would wait for each other until the response timeout (seen in CI as recoveries that never finished). Here
/// <see cref="InitializeGate"/> holds a recovery's Initialize inside the side trainer's turn for as long as the test
/// likes; while it is held, stale work of the old attempt sent to the side trainer must be served (and dropped), and the
/// job must still end equal to the single-process trainer once the gate opens.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class WorkDuringInitializeTests(ClusterFixture cluster, ITestOutputHelper output)
{
    const int Steps = 8;
    static readonly TimeSpan Served = TimeSpan.FromSeconds(15);

    JobSpec Spec() => new()
    {
        ModelDirectory = cluster.ModelDirectory, DataFile = cluster.DataFile, MaxSteps = Steps, MicroBatchSize = 4,
        GradientAccumulation = 2, LearningRate = 1e-2, MaxGradNorm = 1.0, Seed = 13, Window = 3, Stages = 2,
        CheckpointEverySteps = 2, Taps = "lean",
    };

    [Fact]
    public async Task StaleTapsAndBatchesAreServedWhileARecoveryInitializesTheSideTrainer()
    {
        var (localLosses, localWeights) = LocalReference.Run(Spec(), cluster.Scratch($"local-{Guid.NewGuid():N}"));
        string jobId = $"interleave-{Guid.NewGuid():N}"[..20];
        var job = cluster.Grains.GetGrain<ITrainingJobGrain>(jobId);
        var side = cluster.Grains.GetGrain<ISideTrainerGrain>(jobId);
        var started = await job.Start(Spec());
        Assert.True(started.State == JobState.Running, started.Message);
        var before = await JobWait.Until(job, p => p.Step >= 3 && p.LastCheckpointStep >= 2, TimeSpan.FromMinutes(2));
        Assert.Equal(JobState.Running, before.State);

        var held = InitializeGate.Hold(jobId, attempt: before.Attempt + 1);
        try
        {
            await job.ReportFault(before.Attempt, "test: recovery whose Initialize is held");
            await held.Entered.Task.WaitAsync(TimeSpan.FromMinutes(1));
            output.WriteLine($"Initialize of attempt {before.Attempt + 1} held inside the side trainer's turn");

            // Work of the old attempt, as a stage's lean-taps worker or the feeder would still send it.
            var u = new TapChunk(Sequence: 10_000, TapIndex: 1, ChunkIndex: 0, ChunkCount: 1, Shape: [1, 1, 1], WireDType.Float32, new byte[4], before.Attempt);
            await side.SubmitTaps([u]).WaitAsync(Served);
            var labels = new TensorPayload(new byte[8], [1, 1], WireDType.Int64);
            await side.SubmitBatch(new SideBatch(10_000, 0, labels, labels, 1, before.Attempt)).WaitAsync(Served);
            Assert.False(held.Released);   // both were served while Initialize was still held
        }
        finally
        {
            held.Release();
        }

        var done = await JobWait.UntilFinished(job, TimeSpan.FromMinutes(3));
        Assert.True(done.State == JobState.Completed, $"{done.State}: {done.Message}");
        Assert.Equal(before.Attempt + 1, done.Attempt);
        Assert.Equal(localLosses, done.Losses);
        LocalReference.AssertSameWeights(localWeights, await side.GetWeights());
        await side.Shutdown();
    }
}

/// <summary>
/// Holds <see cref="ISideTrainerGrain.Initialize"/> of one job attempt before the grain method runs. Incoming filters run
/// inside the target activation's turn, so while the gate is closed the side trainer is busy with that call exactly as
/// it is during a slow restore.
/// </summary>
public sealed class InitializeGate : IIncomingGrainCallFilter
{
    static readonly ConcurrentDictionary<(string Job, int Attempt), Held> Gates = new();

    public sealed class Held
    {
        readonly TaskCompletionSource _open = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public bool Released => _open.Task.IsCompleted;
        public Task Open => _open.Task;
        public void Release() => _open.TrySetResult();
    }

    public static Held Hold(string jobId, int attempt) => Gates[(jobId, attempt)] = new Held();

    public async Task Invoke(IIncomingGrainCallContext context)
    {
        if (context.InterfaceMethod?.Name == nameof(ISideTrainerGrain.Initialize) && context.InterfaceMethod.DeclaringType == typeof(ISideTrainerGrain)
            && Gates.TryGetValue((context.TargetId.Key.ToString()!, (int)context.Request.GetArgument(1)!), out var held))
        {
            held.Entered.TrySetResult();
            await held.Open;
        }
        await context.Invoke();
    }
}
