using QstOrleans.Cli.Cluster;
using QstOrleans.Client;
using QstOrleans.Configuration;
using QstOrleans.Contracts.Wire;
using QstOrleans.Grains.Hosting;
using QstOrleans.Model.Training;

namespace QstOrleans.Cli.Train;

/// <summary>
/// <c>qst train</c>: submits a QST job to a cluster (<c>--gateway</c>/<c>--redis</c>) or, with <c>--local</c> (the
/// default when no cluster is configured), to a one-silo cluster started in this process, then follows its
/// progress until it finishes. Exit codes: 0 completed, 1 failed (recovery gave up) or cancelled, 2 bad input (refused at submission, or
/// failed later for a deterministic reason: corrupt weights on a stage's silo, bad data, a non-finite loss), 3 cluster
/// unreachable, 4 detached (Ctrl+C while following a remote job; the job keeps running), 130 interrupted (local: the
/// first Ctrl+C checkpoints at the next step boundary, a second one exits at once; see <see cref="LocalInterrupt"/>).
/// Paths are made absolute before they are sent: silos open them, so they must see the same file system; a <c>--data</c>
/// file or <c>--model</c> directory they do not see is uploaded into the cluster's store (<c>--upload</c>, <see cref="DataUpload"/>).
/// <c>--out DIR</c> downloads the completed job's result through the cluster (<see cref="TrainOutput"/>).
/// A <c>--local</c> run keeps its job state and checkpoints in <c>--state-dir</c> and derives its job id from the
/// spec: the same command after a kill resumes the unfinished job from its latest checkpoint; once that job has
/// finished, the same command starts a new one.
/// </summary>
internal static class TrainCommand
{
    public static Command Create()
    {
        // Baselines and thread count belong to `qst train-local`; the file may still set them (a job refuses baselines).
        var o = new TrainingOptions(", as the silos see it", key => !key.StartsWith("method.") && key != "runtime.threads");
        var (valData, mmlu) = TrainEvaluationOptions.Create(", as the silos see it");
        var jobId = new Option<string?>("--job-id") { Description = "Job id (default: train-<time>-<random>)" };
        var local = new Option<bool>("--local") { Description = "Run an in-process cluster (the default when no --gateway/--redis/QST_* is given)" };
        var detach = new Option<bool>("--detach") { Description = "Submit, print the job id and return without following" };
        var plain = new Option<bool>("--plain") { Description = "Plain progress lines even on an interactive terminal" };
        var poll = new Option<int>("--poll-ms") { Description = "Progress poll interval (ms)", DefaultValueFactory = _ => 250 }.AtLeast(10);
        var stateDir = new Option<string?>("--state-dir") { Description = $"--local: job state and checkpoints (default {EmbeddedDefaults.StateDirectory})" };
        var output = TrainOutput.CreateOption();
        var upload = DataUpload.CreateOption();
        var connection = new ClusterConnection();
        var command = new Command("train", "Train QST on a cluster (or an in-process one) and show live progress.");
        o.AddTo(command);
        foreach (Option option in new Option[] { jobId, local, detach, plain, poll, stateDir, output, valData, mmlu, upload }) command.Options.Add(option);
        connection.AddTo(command);
        command.SetAction((p, cancel) => ClusterConnection.RunAsync(async () =>
        {
            var config = o.Resolve(p);   // names the key (and the option) of a bad value before anything starts
            var remote = connection.Resolve(p);
            bool runLocal = p.GetValue(local) || remote is null;
            if (p.GetValue(local) && remote is not null)
                throw new ArgumentException("--local runs an in-process cluster: drop --gateway/--redis (or unset QST_GATEWAY/QST_REDIS)");
            if (runLocal && p.GetValue(detach)) throw new ArgumentException("--detach needs a cluster: the in-process one ends with this command");
            if (!runLocal && config.Runtime.Device != "cpu") throw new ArgumentException("--device is for --local runs: a cluster's devices are its silos' slots (Qst:Slots)");
            if (!runLocal && p.GetValue(stateDir) is not null) throw new ArgumentException("--state-dir is for --local runs: a cluster keeps state in its own storage");
            if (p.GetValue(detach) && p.GetValue(output) is not null) throw new ArgumentException("--out needs to follow the job: drop --detach (later: qst export --job ID --out DIR)");
            if (runLocal) DataUpload.CheckLocal(p.GetValue(upload)!);
            var result = TrainOutput.From(p.GetValue(output));
            var spec = new JobSpec
            {
                ModelDirectory = DataUpload.ModelReference(p.GetValue(o.Model) ?? EmbeddedDefaults.EnsureModel()),
                DataFile = DataUpload.Reference(p.GetValue(o.Data) ?? EmbeddedDefaults.EnsureData()),
                Config = config,
                ValidationFile = TrainEvaluationOptions.FullPath(p.GetValue(valData)),
                MmluFile = TrainEvaluationOptions.FullPath(p.GetValue(mmlu)),
            };
            Console.WriteLine(TrainingOptions.Announce(config));
            var pollInterval = TimeSpan.FromMilliseconds(p.GetValue(poll));
            // The in-process cluster computes here: its silo would apply Qst:AllocatorTuning's default, so apply the config's first.
            if (runLocal) QstOrleans.Model.Devices.NativeAllocatorTuning.ApplyOnce(config.Runtime.AllocatorTuning);
            if (runLocal)
                return result.ExitCode(await RunLocalAsync(spec, p.GetValue(jobId), p.GetValue(stateDir) ?? EmbeddedDefaults.StateDirectory, pollInterval,
                    p.GetValue(plain), cancel, (c, id) => result.SaveAsync(c, id, cancel), deviceKind: config.Runtime.Device));
            string id = p.GetValue(jobId) ?? $"train-{DateTime.UtcNow:yyyyMMdd-HHmmss}-{Guid.NewGuid().ToString("N")[..4]}";
            await using var client = await QstClient.ConnectAsync(remote!, cancel);
            spec = spec with { ModelDirectory = await DataUpload.ResolveModelAsync(client, spec.ModelDirectory, p.GetValue(upload)!, cancel) };
            spec = spec with { DataFile = await DataUpload.ResolveAsync(client, spec.DataFile, p.GetValue(upload)!, cancel) };
            int code = await SubmitAndFollow(client, id, spec, pollInterval, p.GetValue(plain), p.GetValue(detach), remote: true, cancel);
            if (code == 0 && !p.GetValue(detach)) await result.SaveAsync(client, id, cancel);
            return result.ExitCode(code);
        }));
        return Interrupts.StopsCleanly(command);
    }

    /// <summary>
    /// The <c>--local</c> run: an in-process cluster on <paramref name="stateDirectory"/>; resumes the unfinished job of
    /// the same spec (or <paramref name="jobId"/>) if there is one, else submits a new one; follows it to the end.
    /// <paramref name="beforeShutdown"/> runs while the cluster is still up (tests read the trained weights there).
    /// </summary>
    internal static async Task<int> RunLocalAsync(JobSpec spec, string? jobId, string stateDirectory, TimeSpan poll, bool plain,
        CancellationToken cancel, Func<QstClient, string, Task>? beforeShutdown = null, string deviceKind = "cpu")
    {
        await using var cluster = await LocalCluster.StartAsync(spec.Stages, stateDirectory, cancel, deviceKind: deviceKind);
        Console.WriteLine($"started an in-process cluster with {spec.Stages} {deviceKind} slot(s), state in {Path.GetFullPath(stateDirectory)} " +
                          $"(its log: {SiloLogFile.FileName})");
        var client = cluster.Client;
        string id = jobId ?? await LocalJobId(client, spec);
        var existing = await client.FindAsync(id);
        int code;
        if (existing is { IsFinished: false })
        {
            var latest = (await client.CheckpointsAsync(id)).LastOrDefault(c => c.IsLatest);
            Console.WriteLine(latest is null
                ? $"resuming job {id} from the start (no checkpoint was committed)"
                : $"resuming job {id} from step {latest.Step} (checkpoint {latest.Location})");
            await client.ResumeAsync(id);
            code = await Follow(client, id, poll, plain, remote: false, cancel);
        }
        else if (existing is not null)
        {
            // Only with an explicit --job-id: derived ids skip finished jobs.
            return Finished(existing);
        }
        else
        {
            code = await SubmitAndFollow(client, id, spec, poll, plain, detach: false, remote: false, cancel);
        }
        if (beforeShutdown is not null && code != 130) await beforeShutdown(client, id);
        return code;
    }

    /// <summary><c>local-</c> + a hash of the whole spec, with <c>-2</c>, <c>-3</c>, … once a job of that spec has finished.</summary>
    static async Task<string> LocalJobId(QstClient client, JobSpec spec)
    {
        string baseId = $"local-{LocalSiloHost.SpecFingerprint(spec)[..12]}";
        for (int n = 1; ; n++)
        {
            string id = n == 1 ? baseId : $"{baseId}-{n}";
            if (await client.FindAsync(id) is not { IsFinished: true }) return id;
        }
    }

    static async Task<int> SubmitAndFollow(QstClient client, string jobId, JobSpec spec, TimeSpan poll, bool plain, bool detach, bool remote,
        CancellationToken cancel)
    {
        Console.WriteLine($"submitting job {jobId}: {spec.Stages} stage(s), model {spec.ModelDirectory}, data {spec.DataFile}");
        JobSubmission submission;
        try { submission = await client.SubmitAsync(jobId, spec); }
        catch (JobSpecConflictException conflict)
        {
            Console.Error.WriteLine($"error: {conflict.Message}");
            return 2;
        }
        var started = submission.Progress;
        if (submission.Existed)
            Console.WriteLine(submission.Outcome == SubmitOutcome.AlreadyFinished
                ? $"job {jobId} was already submitted with this spec and has finished ({started.State.ToString().ToLowerInvariant()})"
                : $"job {jobId} was already submitted with this spec: following it (step {started.Step}/{started.TotalSteps})");
        if (submission.Outcome == SubmitOutcome.Rejected)
        {
            Console.Error.WriteLine($"error: job {jobId} was rejected: {started.Message}");
            return ExitCodeOf(started);
        }
        if (detach)
        {
            Console.WriteLine($"job {jobId} {started.State.ToString().ToLowerInvariant()}; follow it with `qst status {jobId}`");
            return 0;
        }
        return await Follow(client, jobId, poll, plain, remote, cancel);
    }

    /// <summary>Follows a job to its end and prints the summary; the exit code as documented on the class. Interrupted
    /// (<paramref name="cancel"/>), a local job checkpoints at its next step boundary (<see cref="LocalInterrupt"/>) and a
    /// remote one is left running.</summary>
    internal static async Task<int> Follow(QstClient client, string jobId, TimeSpan poll, bool plain, bool remote, CancellationToken cancel)
    {
        var last = await JobProgressView.FollowAsync(client, jobId, poll, plain, cancel);
        if (last is null)
        {
            if (!remote) return await LocalInterrupt.StopAtNextCheckpoint(client, jobId, poll);
            Console.Error.WriteLine($"detached from job {jobId}; it keeps running (`qst status {jobId}`, `qst cancel {jobId}`)");
            return 4;
        }
        // One more read for the stage utilisation of the finished job.
        return Finished(await client.StatusAsync(jobId));
    }

    /// <summary>Prints a finished job's summary; the message of one that did not complete is printed once, as the error
    /// line. Returns its exit code.</summary>
    internal static int Finished(JobProgress final)
    {
        bool completed = final.State == JobState.Completed;
        foreach (var line in JobProgressView.Summary(final, withMessage: completed)) Console.WriteLine(line);
        if (completed) return 0;
        Console.Error.WriteLine($"error: job {final.JobId} {final.State.ToString().ToLowerInvariant()}: {final.Message}");
        return ExitCodeOf(final);
    }

    /// <summary>2 for a job failed by bad input (a bad model, data file, config or job id; a non-finite loss), else 1.</summary>
    internal static int ExitCodeOf(JobProgress finished) => finished.Error == ErrorKind.BadInput ? 2 : 1;
}
