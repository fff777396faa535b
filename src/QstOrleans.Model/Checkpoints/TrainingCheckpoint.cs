using QstOrleans.Configuration;
using System.Text.Json;
using System.Text.Json.Serialization;
using QstOrleans.Model.Qst;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;
using static TorchSharp.torch;

namespace QstOrleans.Model.Checkpoints;

/// <summary>
/// <c>state.json</c> of a training checkpoint: everything besides tensors needed to continue exactly. Taken at an
/// optimizer-step boundary (a consistent cut), so no partial gradient accumulation exists.
/// </summary>
public sealed record TrainingState
{
    public const string FormatName = "qst-training-state/1";
    public string Format { get; init; } = FormatName;
    /// <summary>Optimizer steps taken.</summary>
    public int Step { get; init; }
    /// <summary>The LR scheduler's position (the schedule is a pure function of it; equal to <see cref="Step"/>).</summary>
    public int LrSchedulerStep { get; init; }
    /// <summary>Dense sequence number of the next micro-batch to apply (= micro-batches applied so far).</summary>
    public long NextMicroBatch { get; init; }
    /// <summary>Data cursor of that micro-batch: epoch and index within the epoch (the data library's DataCursor).</summary>
    public int Epoch { get; init; }
    public int IndexInEpoch { get; init; }
    public long Seed { get; init; }
    /// <summary>Hash of the job spec the run was started with; a resume with another spec must refuse the checkpoint.</summary>
    public string JobSpecHash { get; init; } = "";
    /// <summary>Base64 of a torch Generator's state, when the training draws random numbers (null: it does not).</summary>
    public string? RngState { get; init; }

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
    };
}

/// <summary>
/// Captures and restores the side network's training state as three files in a folder (the checkpoint store then
/// uploads them as blobs):
/// <list type="bullet">
/// <item><c>side_model.safetensors</c>: every given weight (parameters and buffers) in its storage dtype, bitwise,
/// under its module name (the same names as <see cref="SideNetworkExport"/>, so other tools can read it);</item>
/// <item><c>optimizer.safetensors</c>: AdamW exp_avg / exp_avg_sq / step per parameter, named after the parameter
/// (<see cref="OptimizerStepper.SaveState"/>), and the stepper's step;</item>
/// <item><c>state.json</c>: <see cref="TrainingState"/> (steps, data cursor, seed, job spec hash, RNG state).</item>
/// </list>
/// Restoring into freshly built objects (same config and seed) and continuing gives bitwise the same weights and
/// losses as an uninterrupted run on CPU.
/// </summary>
/// <remarks>
/// Throws <see cref="SafeTensorsFormatException"/> naming the file and tensor for a missing, extra or mis-shaped
/// tensor (nothing is changed then for the weights file: all shapes are checked before copying);
/// <see cref="InvalidDataException"/> naming <c>state.json</c> and the field for a bad state file;
/// <see cref="FileNotFoundException"/> for a missing file; <see cref="InvalidOperationException"/> when saving
/// between optimizer steps (micro-batches accumulated).
/// </remarks>
public static class TrainingCheckpoint
{
    public const string WeightsFile = SideNetworkExport.WeightsFile;
    public const string OptimizerFile = "optimizer.safetensors";
    public const string StateFile = "state.json";
    public static readonly IReadOnlyList<string> Files = [WeightsFile, OptimizerFile, StateFile];
    /// <summary>The run's whole <see cref="TrainingConfig"/> (JSON), stored beside every checkpoint so it says how it was trained.</summary>
    public const string ConfigFile = "training_config.json";

    /// <summary>Writes <see cref="ConfigFile"/> into a checkpoint directory.</summary>
    public static void SaveConfig(string directory, TrainingConfig config)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, ConfigFile), config.ToJson());
    }

    /// <summary>The config stored with a checkpoint, or null for a checkpoint written before configs were stored.</summary>
    /// <exception cref="ArgumentException">The file is there but is not a valid config (the message names it).</exception>
    public static TrainingConfig? ReadConfig(string directory)
    {
        string path = Path.Combine(directory, ConfigFile);
        return File.Exists(path) ? TrainingConfigFile.Parse(File.ReadAllText(path), path) : null;
    }

    /// <summary>Saves a QST side network's parameters and buffers with its stepper.</summary>
    public static TrainingState Save(string directory, QstSideNetwork side, OptimizerStepper stepper, TrainingState state, Generator? rng = null) =>
        Save(directory, SideNetworkExport.State(side).ToList(), stepper, state, rng);

    /// <summary>Restores into a QST side network built with the same config (and seed, for its buffers).</summary>
    public static TrainingState Restore(string directory, QstSideNetwork side, OptimizerStepper stepper, Generator? rng = null) =>
        Restore(directory, SideNetworkExport.State(side).ToList(), stepper, rng);

    /// <summary>
    /// Writes the three files into <paramref name="directory"/>. <see cref="TrainingState.Step"/>,
    /// <see cref="TrainingState.LrSchedulerStep"/> and <see cref="TrainingState.RngState"/> are taken from the stepper
    /// and generator; the caller supplies the cursor, seed and spec hash.
    /// </summary>
    /// <param name="weights">Named tensors to save; must include every parameter the stepper optimizes.</param>
    /// <returns>The state written.</returns>
    public static TrainingState Save(string directory, IReadOnlyList<(string Name, Tensor Tensor)> weights, OptimizerStepper stepper,
        TrainingState state, Generator? rng = null)
    {
        Directory.CreateDirectory(directory);
        var names = OptimizerNames(weights, stepper);

        var model = new SafeTensorsWriter();
        foreach (var (name, tensor) in weights)
        {
            using var detached = tensor.detach();
            model.Add(name, detached);
        }
        model.Metadata["format"] = "qst-training-checkpoint";
        model.Metadata["step"] = stepper.Step.ToString(System.Globalization.CultureInfo.InvariantCulture);
        model.Write(Path.Combine(directory, WeightsFile));

        var optimizer = new SafeTensorsWriter();
        stepper.SaveState(optimizer, names);
        optimizer.Write(Path.Combine(directory, OptimizerFile));

        string? rngState = null;
        if (rng is not null)
        {
            using var st = rng.get_state();                     // [n] uint8
            rngState = Convert.ToBase64String(st.bytes.ToArray());
        }
        var written = state with { Format = TrainingState.FormatName, Step = stepper.Step, LrSchedulerStep = stepper.Step, RngState = rngState };
        File.WriteAllBytes(Path.Combine(directory, StateFile), JsonSerializer.SerializeToUtf8Bytes(written, TrainingState.Json));
        return written;
    }

    /// <summary>Copies the saved weights, optimizer state and RNG state into the given objects; returns the saved state.</summary>
    public static TrainingState Restore(string directory, IReadOnlyList<(string Name, Tensor Tensor)> weights, OptimizerStepper stepper, Generator? rng = null)
    {
        var state = ReadState(Path.Combine(directory, StateFile));
        var names = OptimizerNames(weights, stepper);

        string weightsPath = Path.Combine(directory, WeightsFile);
        using (var file = SafeTensorsFile.Open(weightsPath))
        {
            var targets = weights.ToDictionary(w => w.Name, w => w.Tensor, StringComparer.Ordinal);
            foreach (var name in file.Tensors.Keys)
                if (!targets.ContainsKey(name))
                    throw new SafeTensorsFormatException(weightsPath, name, "is not a tensor of this network (another model or QST config?)");
            foreach (var (name, target) in targets)
            {
                if (!file.Contains(name)) throw new SafeTensorsFormatException(weightsPath, name, "tensor missing");
                var info = file.Info(name);
                if (!info.Shape.SequenceEqual(target.shape) || SafeTensorDTypes.ToTorch(info.DType) != target.dtype)
                    throw new SafeTensorsFormatException(weightsPath, name,
                        $"is {info.DType} [{string.Join(", ", info.Shape)}] but the network needs {target.dtype} [{string.Join(", ", target.shape)}]");
            }
            using var noGrad = no_grad();
            foreach (var (name, target) in targets)
            {
                using var value = file.ReadTensor(name);
                target.copy_(value);
            }
        }

        string optimizerPath = Path.Combine(directory, OptimizerFile);
        using (var file = SafeTensorsFile.Open(optimizerPath))
            stepper.RestoreState(file, names);
        if (stepper.Step != state.Step)
            throw new InvalidDataException($"{Path.Combine(directory, StateFile)}: field 'step' is {state.Step} but {optimizerPath} holds optimizer step {stepper.Step}");

        if (rng is not null)
        {
            if (state.RngState is null)
                throw new InvalidDataException($"{Path.Combine(directory, StateFile)}: field 'rng_state' is null but a generator was given to restore");
            var bytes = Convert.FromBase64String(state.RngState);
            using var st = tensor(bytes, ScalarType.Byte);
            rng.set_state(st);
        }
        return state;
    }

    /// <summary>Reads and checks <c>state.json</c>.</summary>
    /// <exception cref="InvalidDataException">Names the file and the bad field.</exception>
    public static TrainingState ReadState(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: training state file not found", path);
        TrainingState? s;
        try { s = JsonSerializer.Deserialize<TrainingState>(File.ReadAllBytes(path), TrainingState.Json); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a valid training state ({e.Message})", e); }
        if (s is null) throw new InvalidDataException($"{path}: empty training state");
        if (s.Format != TrainingState.FormatName) throw new InvalidDataException($"{path}: field 'format' is '{s.Format}', expected '{TrainingState.FormatName}'");
        if (s.Step < 0) throw new InvalidDataException($"{path}: field 'step' is {s.Step}");
        if (s.LrSchedulerStep != s.Step) throw new InvalidDataException($"{path}: field 'lr_scheduler_step' is {s.LrSchedulerStep}, 'step' is {s.Step}");
        if (s.NextMicroBatch < 0 || s.Epoch < 0 || s.IndexInEpoch < 0)
            throw new InvalidDataException($"{path}: fields 'next_micro_batch', 'epoch', 'index_in_epoch' must be >= 0");
        return s;
    }

    /// <summary>The name of each optimizer parameter, found by identity among the weights.</summary>
    static List<string> OptimizerNames(IReadOnlyList<(string Name, Tensor Tensor)> weights, OptimizerStepper stepper)
    {
        var byHandle = new Dictionary<IntPtr, string>();
        foreach (var (name, t) in weights) byHandle.TryAdd(t.Handle, name);
        var names = new List<string>(stepper.Parameters.Count);
        for (int i = 0; i < stepper.Parameters.Count; i++)
            names.Add(byHandle.TryGetValue(stepper.Parameters[i].Handle, out var n) ? n
                : throw new ArgumentException($"optimizer parameter {i} {string.Join("x", stepper.Parameters[i].shape)} is not among the weights to save", nameof(weights)));
        return names;
    }
}
