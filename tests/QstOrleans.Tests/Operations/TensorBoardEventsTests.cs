using QstOrleans.Model.Metrics;
using Google.Protobuf;
using QstOrleans.Model.Training;
using QstOrleans.Tests.Evaluation;

namespace QstOrleans.Tests.Operations;

/// <summary>
/// A run folder's metrics also land in a TensorBoard event file: read back here with an independent reader of the
/// TFRecord framing (u64 length, u32 crc, payload, u32 crc) and the <c>Event</c>/<c>Summary</c> protobuf fields
/// (event: 2 step, 5 summary; summary: 1 value; value: 1 tag, 2 simple_value), not with the writer's own code.
/// </summary>
public sealed class TensorBoardEventsTests : IDisposable
{
    readonly string _root = Directory.CreateTempSubdirectory("qst-tb-").FullName;

    [Fact]
    public void EveryStepsScalarsAreInTheEventFileBesideMetricsJsonl()
    {
        var records = new[]
        {
            new MetricsRecord(1, 0, 6.25, 1e-2, 1.5, 1000, 1 << 20),
            new MetricsRecord(2, 0, 5.125, 1e-2, double.NaN, 1100, 1 << 20, ValLoss: 5.5),
            new MetricsRecord(3, 1, 4.0625, 5e-3, 0.75, 1200, 1 << 20),
        };
        using (var writer = new MetricsWriter(Path.Combine(_root, MetricsWriter.FileName)))
            foreach (var r in records) writer.Write(r);

        string events = Assert.Single(Directory.GetFiles(_root, "events.out.tfevents.*"));
        var scalars = ReadScalars(events);
        foreach (var r in records)
        {
            Assert.Equal((float)r.Loss, scalars[("train/loss", r.Step)]);
            Assert.Equal((float)r.LearningRate, scalars[("train/lr", r.Step)]);
            Assert.Equal((float)r.TokensPerSecond, scalars[("train/tokens_per_s", r.Step)]);
        }
        Assert.Equal(0.75f, scalars[("train/grad_norm", 3)]);
        Assert.False(scalars.ContainsKey(("train/grad_norm", 2)));   // NaN is left out (null in the jsonl)
        Assert.Equal(5.5f, scalars[("eval/val_loss", 2)]);
        Assert.Equal(3, MetricsWriter.Read(Path.Combine(_root, MetricsWriter.FileName)).Count);
    }

    internal static Dictionary<(string Tag, long Step), float> ReadScalars(string path)
    {
        var scalars = new Dictionary<(string, long), float>();
        using var file = new BinaryReader(File.OpenRead(path));
        while (file.BaseStream.Position < file.BaseStream.Length)
        {
            ulong length = file.ReadUInt64();
            file.ReadUInt32();   // crc of the length
            var payload = file.ReadBytes(checked((int)length));
            Assert.Equal((int)length, payload.Length);
            file.ReadUInt32();   // crc of the payload
            long step = 0;
            var values = new List<(string, float)>();
            var input = new CodedInputStream(payload);
            for (uint tag; (tag = input.ReadTag()) != 0;)
            {
                switch (WireFormat.GetTagFieldNumber(tag))
                {
                    case 2: step = input.ReadInt64(); break;
                    case 5: values.AddRange(SummaryValues(input.ReadBytes())); break;
                    default: input.SkipLastField(); break;
                }
            }
            foreach (var (name, value) in values) scalars[(name, step)] = value;
        }
        return scalars;
    }

    static IEnumerable<(string, float)> SummaryValues(ByteString summary)
    {
        var input = new CodedInputStream(summary.ToByteArray());
        var found = new List<(string, float)>();
        for (uint tag; (tag = input.ReadTag()) != 0;)
        {
            if (WireFormat.GetTagFieldNumber(tag) != 1) { input.SkipLastField(); continue; }
            var value = new CodedInputStream(input.ReadBytes().ToByteArray());
            string name = "";
            float? simple = null;
            for (uint t; (t = value.ReadTag()) != 0;)
            {
                switch (WireFormat.GetTagFieldNumber(t))
                {
                    case 1: name = value.ReadString(); break;
                    case 2: simple = value.ReadFloat(); break;
                    default: value.SkipLastField(); break;
                }
            }
            if (simple is { } v) found.Add((name, v));
        }
        return found;
    }

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>A real <c>train-local --out</c> run folder holds one event file whose train/loss per step is the run's loss.</summary>
[Collection(EvaluatedRunCollection.Name)]
public sealed class RunFolderTensorBoardTests(EvaluatedRunFixture run)
{
    [Fact]
    public void TheRunFolderHasTensorBoardEventsWithTheRunsLosses()
    {
        var scalars = TensorBoardEventsTests.ReadScalars(Assert.Single(Directory.GetFiles(run.RunDirectory, "events.out.tfevents.*")));
        for (int i = 0; i < EvaluatedRunFixture.Steps; i++)
            Assert.Equal(run.Reports[i].Loss, scalars[("train/loss", i + 1)]);
    }
}
