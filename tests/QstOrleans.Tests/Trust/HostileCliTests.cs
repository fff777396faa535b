using QstOrleans.Cli.ModelTools;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Tests.Cli;

namespace QstOrleans.Tests.Trust;

/// <summary>
/// Hostile inputs through the CLI, end to end (an in-process cluster for <c>qst train --local</c>): each is refused or
/// stopped with a clear error and exit code 2, never trained on.
/// </summary>
public sealed class HostileCliTests(TinyModelFixture tiny) : IClassFixture<TinyModelFixture>
{
    static int Qst(params string[] args) => (int)typeof(MakeModelCommand).Assembly.EntryPoint!.Invoke(null, [args])!;

    string[] Train(string model, string data, params string[] more) =>
    [
        "train", "--local", "--model", model, "--data", data, "--max-steps", "2", "--micro-batch-size", "4", "--plain",
        "--state-dir", tiny.Scratch($"state-{Guid.NewGuid():N}"), .. more,
    ];

    [Fact]
    public void DeviceFilesAndBadJobIdsAreBadInputOnTheCluster()
    {
        if (!OperatingSystem.IsWindows()) Assert.Equal(2, Qst(Train(tiny.ModelDirectory, "/dev/zero")));
        Assert.Equal(2, Qst(Train(tiny.ModelDirectory, tiny.DataFile, "--job-id", "bad id")));
    }

    [Fact]
    public void NaNWeightsStopTrainingWithExitCode2()
    {
        string model = NaNModel("nan-model");
        Assert.Equal(2, Qst("train-local", "--model", model, "--data", tiny.DataFile, "--max-steps", "2", "--micro-batch-size", "4"));
        Assert.Equal(2, Qst(Train(model, tiny.DataFile)));
    }

    [Fact]
    public void NaNWeightsWithNonFiniteSkipTrainToTheEndAndSaveOnlyFiniteWeights()
    {
        string model = NaNModel("nan-skip-model");
        string local = tiny.Scratch("nan-skip-local"), cluster = tiny.Scratch("nan-skip-cluster");
        // Every step's loss is NaN: each is skipped, the run still ends normally (exit 0) instead of failing.
        Assert.Equal(0, Qst("train-local", "--model", model, "--data", tiny.DataFile, "--max-steps", "2", "--micro-batch-size", "4",
            "--non-finite", "skip", "--out", local));
        Assert.Equal(0, Qst(Train(model, tiny.DataFile, "--non-finite", "skip", "--out", cluster)));
        AssertAllFinite(Path.Combine(local, "trainable.safetensors"));
        AssertAllFinite(Path.Combine(cluster, "side_model.safetensors"));
        Assert.Equal(2, File.ReadAllLines(Path.Combine(local, "metrics.jsonl")).Length);   // both steps counted
    }

    static void AssertAllFinite(string path)
    {
        using var file = SafeTensorsFile.Open(path);
        Assert.NotEmpty(file.Tensors);
        foreach (var (name, info) in file.Tensors)
        {
            byte[] bytes = file.ReadBytes(name);
            for (int i = 0; i < bytes.Length; )
            {
                float v = info.DType switch
                {
                    SafeTensorDType.F32 => BitConverter.ToSingle(bytes, i),
                    SafeTensorDType.BF16 => BitConverter.Int32BitsToSingle(BitConverter.ToUInt16(bytes, i) << 16),
                    SafeTensorDType.F16 => (float)BitConverter.ToHalf(bytes, i),
                    _ => 0f,
                };
                Assert.True(float.IsFinite(v), $"{path}: {name} holds {v}");
                i += info.DType switch { SafeTensorDType.F32 => 4, SafeTensorDType.BF16 or SafeTensorDType.F16 => 2, _ => bytes.Length };
            }
        }
    }

    string NaNModel(string name) => NaNModelCopy(tiny.ModelDirectory, tiny.Scratch(name));

    /// <summary>A copy of the model in <paramref name="model"/> under <paramref name="dir"/> whose final norm weights are NaN
    /// (every other tensor as it was).</summary>
    internal static string NaNModelCopy(string model, string dir)
    {
        Directory.CreateDirectory(dir);
        foreach (var file in Directory.GetFiles(model)) File.Copy(file, Path.Combine(dir, Path.GetFileName(file)), overwrite: true);
        string weights = Path.Combine(dir, "model.safetensors");
        var writer = new SafeTensorsWriter();
        using (var source = SafeTensorsFile.Open(weights))
        {
            Assert.True(source.Contains("model.norm.weight"));
            foreach (var (tensorName, info) in source.Tensors)
            {
                byte[] bytes = source.ReadBytes(tensorName);
                if (tensorName == "model.norm.weight") FillNaN(bytes, info.DType);
                writer.Add(tensorName, info.DType, info.Shape, bytes);
            }
        }
        writer.Write(weights);
        return dir;
    }

    static void FillNaN(byte[] bytes, SafeTensorDType dtype)
    {
        byte[] nan = dtype switch
        {
            SafeTensorDType.F32 => BitConverter.GetBytes(float.NaN),
            SafeTensorDType.BF16 => [0xC0, 0x7F],
            SafeTensorDType.F16 => [0x00, 0x7E],
            _ => throw new NotSupportedException($"norm weights in {dtype}"),
        };
        for (int i = 0; i < bytes.Length; i++) bytes[i] = nan[i % nan.Length];
    }
}
