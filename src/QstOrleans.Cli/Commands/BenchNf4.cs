using System.Diagnostics;
using System.Runtime.InteropServices;
using QstOrleans.Model.Benchmarks;
using QstOrleans.Model.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Cli.Commands;

/// <summary>
/// The NF4 hot path in one process: a plain parallel memory copy (the bandwidth limit), NF4 → bf16
/// dequantization, and x·Wᵀ with W in bf16, in NF4 dequantized per call, and in NF4 with the cache.
/// Each timing is the median of several runs after a warm-up.
/// </summary>
internal static unsafe class BenchNf4
{
    const int Repeats = 7;

    /// <param name="shapes">(out, in) of each weight.</param>
    /// <param name="rows">M, the rows of x (B·T of a micro-batch).</param>
    public static List<Nf4Result> Run(IReadOnlyList<(int Out, int In)> shapes, int rows, int threads)
    {
        set_num_threads(threads);
        var results = new List<Nf4Result>();
        foreach (var (outF, inF) in shapes)
        {
            using var scope = NewDisposeScope();
            long n = (long)outF * inF;
            double copyGBps = CopyBandwidth(2 * n, threads);
            var gen = new Generator(7);
            var w = (randn([outF, inF], generator: gen) * 0.02f).to(ScalarType.BFloat16);   // [out, in]
            var x = randn([rows, inF], generator: gen).to(ScalarType.BFloat16);              // [M, in]
            var nf4 = Nf4Quantizer.Quantize(w, doubleQuant: true);
            var target = empty([outF, inF], ScalarType.BFloat16);
            double dequant = Median(() => nf4.DequantizeInto(target));
            double bf16 = Median(() => nn.functional.linear(x, w).Dispose());
            using var noGrad = no_grad();
            using var perCall = new Nf4Linear(Nf4Quantizer.Quantize(w, doubleQuant: true));
            double nf4Linear = Median(() => perCall.forward(x).Dispose());
            using var cached = new Nf4Linear(Nf4Quantizer.Quantize(w, doubleQuant: true), cacheDequantized: true);
            double cachedLinear = Median(() => cached.forward(x).Dispose());
            results.Add(new Nf4Result
            {
                Shape = $"W [{outF}, {inF}], x [{rows}, {inF}]",
                Threads = threads,
                CopyGBps = copyGBps,
                DequantMs = dequant,
                DequantBytes = n / 2.0 + n / 64.0 + 2.0 * n,   // packed + 8-bit absmax in, bf16 out
                Bf16LinearMs = bf16,
                Nf4LinearMs = nf4Linear,
                Nf4CachedLinearMs = cachedLinear,
                CacheBytes = 2 * n,
            });
            nf4.Dispose();
        }
        Nf4Linear.ReleaseScratchBuffers();
        return results;
    }

    /// <summary>GB/s (read + written) of a copy of <paramref name="bytes"/> split over the threads, buffers pre-touched.</summary>
    static double CopyBandwidth(long bytes, int threads)
    {
        byte* src = (byte*)NativeMemory.Alloc((nuint)bytes), dst = (byte*)NativeMemory.Alloc((nuint)bytes);
        try
        {
            new Span<byte>(src, (int)Math.Min(bytes, int.MaxValue)).Fill(1);
            new Span<byte>(dst, (int)Math.Min(bytes, int.MaxValue)).Clear();
            long chunk = (bytes + threads - 1) / threads;
            double ms = Median(() => Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
            {
                long start = i * chunk, length = Math.Min(chunk, bytes - start);
                if (length > 0) Buffer.MemoryCopy(src + start, dst + start, length, length);
            }));
            return 2.0 * bytes / (ms * 1e-3) / 1e9;
        }
        finally
        {
            NativeMemory.Free(src);
            NativeMemory.Free(dst);
        }
    }

    /// <summary>Median milliseconds of <see cref="Repeats"/> runs after two warm-ups.</summary>
    static double Median(Action action)
    {
        action();
        action();
        var times = new double[Repeats];
        for (int i = 0; i < Repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            action();
            times[i] = clock.Elapsed.TotalMilliseconds;
        }
        Array.Sort(times);
        return times[Repeats / 2];
    }
}
