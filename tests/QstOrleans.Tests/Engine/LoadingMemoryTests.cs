using QstOrleans.Model.Backbone;
using QstOrleans.Model.Checkpoints;
using QstOrleans.Model.Config;
using QstOrleans.Model.Layers;
using QstOrleans.Model.Quantization;
using System.Runtime.InteropServices;

namespace QstOrleans.Tests.Engine;

/// <summary>
/// Quantize-while-loading keeps peak memory near the NF4 model plus one tensor, never the whole bf16
/// model. Measured as the anonymous resident memory (RssAnon: the file's mapped pages are cache, not
/// the process's), sampled every millisecond on a second thread while the backbone loads.
/// </summary>
public sealed partial class LoadingMemoryTests(Xunit.Abstractions.ITestOutputHelper output)
{
    /// <summary>glibc: give free heap memory back to the OS, so each measurement starts from a clean baseline.</summary>
    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    // 12 layers of 4·1024² + 3·1024·2816 weights = 154 M parameters: 308 MiB in bf16, ~80 MiB in NF4 + DQ.
    static readonly ModelConfig Shape = new()
    {
        Name = "memory-test", VocabSize = 256, HiddenSize = 1024, IntermediateSize = 2816, NumLayers = 12,
        NumHeads = 8, NumKeyValueHeads = 8, HeadDim = 128, MaxPositionEmbeddings = 64,
    };

    [Fact]
    public void Nf4LoadingPeaksNearTheQuantizedSizeNotTheBf16Size()
    {
        if (!File.Exists("/proc/self/status")) return;   // Linux-only measurement
        using var dir = new TestDirectory();
        RandomModelWriter.Write(dir.Path, Shape, seed: 5);
        long bf16Bytes = Shape.BackboneLinearParameters * 2;
        long largestFp32 = (long)Shape.HiddenSize * Shape.IntermediateSize * 4;

        long nf4Bytes;
        long nf4Peak = PeakAnonymousGrowth(() =>
        {
            var stage = BackboneLoader.LoadAll(dir.Path, Shape, new BackboneOptions(WeightFormat.Nf4, DoubleQuant: true));
            return stage;
        }, out nf4Bytes);
        long bf16Peak = PeakAnonymousGrowth(() =>
            BackboneLoader.LoadAll(dir.Path, Shape, new BackboneOptions(WeightFormat.BFloat16)), out _);

        output.WriteLine($"NF4 load peak +{nf4Peak >> 20} MiB (NF4 weights {nf4Bytes >> 20} MiB), bf16 load peak +{bf16Peak >> 20} MiB (bf16 weights {bf16Bytes >> 20} MiB)");
        // NF4 + DQ is 4.127 bits per weight (spec §9.6).
        Assert.InRange(nf4Bytes, (long)(Shape.BackboneLinearParameters * 4.12 / 8), (long)(Shape.BackboneLinearParameters * 4.14 / 8));
        // Bound: the NF4 model + a few copies of the largest tensor in flight + allocator slack.
        long bound = nf4Bytes + 4 * largestFp32 + (48L << 20);
        Assert.True(nf4Peak < bound, $"NF4 load peaked at {nf4Peak >> 20} MiB over baseline; bound {bound >> 20} MiB (bf16 model is {bf16Bytes >> 20} MiB)");
        // The measurement can tell the difference: holding bf16 weights costs their full size.
        Assert.True(bf16Peak > 0.75 * bf16Bytes, $"bf16 load grew only {bf16Peak >> 20} MiB for a {bf16Bytes >> 20} MiB model");
        Assert.True(bound < bf16Bytes);
    }

    /// <summary>Peak RssAnon growth while <paramref name="load"/> runs (the result is disposed afterwards).</summary>
    static long PeakAnonymousGrowth(Func<BackboneStage> load, out long nf4Bytes)
    {
        GC.Collect();
        GC.WaitForPendingFinalizers();
        MallocTrim(0);
        long baseline = RssAnon();
        long peak = baseline;
        bool done = false;
        var sampler = new Thread(() =>
        {
            while (!Volatile.Read(ref done))
            {
                peak = Math.Max(peak, RssAnon());
                Thread.Sleep(1);
            }
        });
        sampler.Start();
        var stage = load();
        peak = Math.Max(peak, RssAnon());
        Volatile.Write(ref done, true);
        sampler.Join();
        nf4Bytes = stage.modules().OfType<Nf4Linear>().Distinct().Sum(l => l.Weight.ByteSize);
        stage.Dispose();
        return peak - baseline;
    }

    static long RssAnon()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("RssAnon:", StringComparison.Ordinal))
                return long.Parse(line["RssAnon:".Length..].Trim().Split(' ')[0]) * 1024;
        }
        throw new InvalidOperationException("RssAnon missing from /proc/self/status");
    }
}
