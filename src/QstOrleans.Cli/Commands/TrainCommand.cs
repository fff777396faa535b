using System.CommandLine;
using QstOrleans.Client;
using QstOrleans.Contracts.Wire;
using QstOrleans.Model.Training;

namespace QstOrleans.Cli.Commands;

/// <summary>
/// <c>qst train</c>: submits a QST job to a cluster (<c>--gateway</c>/<c>--redis</c>) or, with <c>--local</c> (the
/// default when no cluster is configured), to a one-silo cluster started in this process, then follows its
/// progress until it finishes. Exit codes: 0 completed, 1 failed or cancelled, 2 bad input, 3 cluster
/// unreachable, 4 detached (Ctrl+C while following a remote job; the job keeps running).
/// Paths are made absolute before they are sent: silos open them, so they must see the same file system.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        var model = new Option<string?>("--model") { Description = "HF model directory, as the silos see it (default: the embedded tiny model)" };
        var data = new Option<string?>("--data") { Description = "Training data (Alpaca, chat, text or pre-tokenized), as the silos see it (default: the embedded synthetic dataset)" };
        var format = new Option<string>("--format") { Description = "Dataset format: auto, alpaca, chat, text, tokens", DefaultValueFactory = _ => "auto" };
        var maxLength = new Option<int>("--max-length") { Description = "Tokens per example and packing block size (0 = max-source + max-target)", DefaultValueFactory = _ => 0 };
        var pack = new Option<bool>("--pack") { Description = "Pack examples into blocks of exactly --max-length tokens" };
        var groupByLength = new Option<bool>("--group-by-length") { Description = "Batch examples of similar length together" };
        var skipInvalid = new Option<bool>("--skip-invalid") { Description = "Drop bad records (counted in the data report) instead of failing" };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 1 };
        var maxSteps = new Option<int>("--max-steps") { Description = "Stop after N optimizer steps (0 = all epochs)", DefaultValueFactory = _ => 0 };
        var microBatch = new Option<int>("--micro-batch-size") { DefaultValueFactory = _ => 8 };
        var accumulation = new Option<int>("--grad-accum") { DefaultValueFactory = _ => 1 };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 1e-3 };
        var schedule = new Option<string>("--schedule") { Description = "constant, constant_with_warmup, linear, cosine", DefaultValueFactory = _ => "constant" };
        var warmup = new Option<int>("--warmup-steps") { DefaultValueFactory = _ => 0 };
        var clip = new Option<double>("--max-grad-norm") { Description = "0 disables clipping", DefaultValueFactory = _ => 0.3 };
        var weightDecay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => 0.0 };
        var r = new Option<int>("--r") { Description = "QST side reduction factor (d = H/r)", DefaultValueFactory = _ => 16 };
        var adapter = new Option<int>("--adapter-dim") { Description = "QST adapter bottleneck p", DefaultValueFactory = _ => 16 };
        var mergeGate = new Option<bool>("--train-merge-gate") { Description = "Train lm_head_z (the reference never does; default false)" };
        var dtype = new Option<string>("--dtype") { Description = "Compute dtype: bf16 or fp32", DefaultValueFactory = _ => "bf16" };
        var backbone = new Option<string>("--backbone") { Description = "Backbone weights: nf4, bf16 or fp32", DefaultValueFactory = _ => "nf4" };
        var dq = new Option<bool>("--double-quant") { DefaultValueFactory = _ => true };
        var maxSource = new Option<int>("--max-source-tokens") { DefaultValueFactory = _ => 512 };
        var maxTarget = new Option<int>("--max-target-tokens") { DefaultValueFactory = _ => 512 };
        var seed = new Option<long>("--seed") { DefaultValueFactory = _ => 0 };
        var stages = new Option<int>("--stages") { Description = "Backbone stages, each on its own device slot", DefaultValueFactory = _ => 1 };
        var window = new Option<int>("--window") { Description = "Micro-batches in flight at once", DefaultValueFactory = _ => 4 };
        var jobId = new Option<string?>("--job-id") { Description = "Job id (default: train-<time>-<random>)" };
        var local = new Option<bool>("--local") { Description = "Run an in-process cluster (the default when no --gateway/--redis/QST_* is given)" };
        var detach = new Option<bool>("--detach") { Description = "Submit, print the job id and return without following" };
        var plain = new Option<bool>("--plain") { Description = "Plain progress lines even on an interactive terminal" };
        var poll = new Option<int>("--poll-ms") { Description = "Progress poll interval", DefaultValueFactory = _ => 250 };
        var connection = new ClusterConnection();
        var command = new Command("train", "Train QST on a cluster (or an in-process one) and show live progress.")
        {
            model, data, epochs, maxSteps, microBatch, accumulation, lr, schedule, warmup, clip, weightDecay, r, adapter, mergeGate,
            dtype, backbone, dq, maxSource, maxTarget, seed, stages, window, jobId, local, detach, plain, poll,
            format, maxLength, pack, groupByLength, skipInvalid,
        };
        connection.AddTo(command);
        command.SetAction((p, cancel) => ClusterConnection.RunAsync(async () =>
        {
            LrSchedule.ParseKind(p.GetValue(schedule)!); // validates the name here, with the option's name in the message
            QstOrleans.Data.Datasets.DataOptions.ParseFormat(p.GetValue(format)); // likewise
            var remote = connection.Resolve(p);
            bool runLocal = p.GetValue(local) || remote is null;
            if (p.GetValue(local) && remote is not null)
                throw new ArgumentException("--local runs an in-process cluster: drop --gateway/--redis (or unset QST_GATEWAY/QST_REDIS)");
            if (runLocal && p.GetValue(detach)) throw new ArgumentException("--detach needs a cluster: the in-process one ends with this command");
            var spec = new JobSpec
            {
                ModelDirectory = Path.GetFullPath(p.GetValue(model) ?? EmbeddedDefaults.EnsureModel()),
                DataFile = Path.GetFullPath(p.GetValue(data) ?? EmbeddedDefaults.EnsureData()),
                Epochs = p.GetValue(epochs), MaxSteps = p.GetValue(maxSteps),
                MicroBatchSize = p.GetValue(microBatch), GradientAccumulation = p.GetValue(accumulation),
                LearningRate = p.GetValue(lr), Schedule = p.GetValue(schedule)!, WarmupSteps = p.GetValue(warmup),
                MaxGradNorm = p.GetValue(clip), WeightDecay = p.GetValue(weightDecay), Seed = p.GetValue(seed),
                Stages = p.GetValue(stages),
                Qst = new QstSpec { R = p.GetValue(r), AdapterBottleneck = p.GetValue(adapter), TrainMergeGate = p.GetValue(mergeGate) },
                Dtype = p.GetValue(dtype)!, BackboneFormat = p.GetValue(backbone)!, DoubleQuant = p.GetValue(dq),
                Window = p.GetValue(window), MaxSourceTokens = p.GetValue(maxSource), MaxTargetTokens = p.GetValue(maxTarget),
                Format = p.GetValue(format)!, MaxLength = p.GetValue(maxLength), Pack = p.GetValue(pack),
                GroupByLength = p.GetValue(groupByLength), SkipInvalid = p.GetValue(skipInvalid),
            };
            string id = p.GetValue(jobId) ?? $"train-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..4]}";
            var pollInterval = TimeSpan.FromMilliseconds(Math.Max(p.GetValue(poll), 10));
            if (runLocal)
            {
                Console.WriteLine($"starting an in-process cluster with {spec.Stages} cpu slot(s)");
                await using var cluster = await LocalCluster.StartAsync(spec.Stages, cancel);
                return await SubmitAndFollow(cluster.Client, id, spec, pollInterval, p.GetValue(plain), detach: false, remote: false, cancel);
            }
            await using var client = await QstClient.ConnectAsync(remote!, cancel);
            return await SubmitAndFollow(client, id, spec, pollInterval, p.GetValue(plain), p.GetValue(detach), remote: true, cancel);
        }));
        return command;
    }

    static async Task<int> SubmitAndFollow(QstClient client, string jobId, JobSpec spec, TimeSpan poll, bool plain, bool detach, bool remote,
        CancellationToken cancel)
    {
        Console.WriteLine($"submitting job {jobId}: {spec.Stages} stage(s), model {spec.ModelDirectory}, data {spec.DataFile}");
        var started = await client.SubmitAsync(jobId, spec);
        if (started.State == JobState.Failed)
        {
            Console.Error.WriteLine($"error: job {jobId} was rejected: {started.Message}");
            return 1;
        }
        if (detach)
        {
            Console.WriteLine($"job {jobId} {started.State.ToString().ToLowerInvariant()}; follow it with `qst status {jobId}`");
            return 0;
        }
        var last = await JobProgressView.FollowAsync(client, jobId, poll, plain, cancel);
        if (last is null)
        {
            if (!remote) return 130;
            Console.Error.WriteLine($"detached from job {jobId}; it keeps running (`qst status {jobId}`, `qst cancel {jobId}`)");
            return 4;
        }
        // One more read for the stage utilisation of the finished job.
        var final = await client.StatusAsync(jobId);
        foreach (var line in JobProgressView.Summary(final)) Console.WriteLine(line);
        if (final.State == JobState.Completed) return 0;
        Console.Error.WriteLine($"error: job {jobId} {final.State.ToString().ToLowerInvariant()}: {final.Message}");
        return 1;
    }
}
