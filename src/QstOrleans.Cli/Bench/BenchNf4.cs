using System.Diagnostics;
using System.Runtime.InteropServices;
using QstOrleans.Cli.Bench.Reports;
using QstOrleans.Model.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Cli.Bench;

/// <summary>
/// The NF4 hot path in one process: a plain parallel memory copy (the bandwidth limit), NF4 → bf16
/// dequantization on every decode path the CPU supports, and x·Wᵀ with W in bf16, in NF4 dequantized
/// per call, and in NF4 with the cache. WHY interleaved: the machine is shared, so every round times
/// each variant once, one after another, and each figure is the median over the rounds; a burst of
/// load then hits all variants of a round alike and the ratios stay fair.
/// </summary>
internal static unsafe class BenchNf4
{
    const int Rounds = 15, Warmups = 2;

    /// <param name="shapes">(out, in) of each weight.</param>
    /// <param name="rows">M, the rows of x (B·T of a micro-batch).</param>
    public static List<Nf4Result> Run(IReadOnlyList<(int Out, int In)> shapes, int rows, int threads)
    {
        set_num_threads(threads);
        var results = new List<Nf4Result>();
        var paths = Enum.GetValues<Nf4DecodePath>().Where(Nf4DecodePaths.IsSupported).ToList();
        foreach (var (outF, inF) in shapes)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            long n = (long)outF * inF;
            var gen = new Generator(7);
            var w = (randn([outF, inF], generator: gen) * 0.02f).to(ScalarType.BFloat16);   // [out, in]
            var x = randn([rows, inF], generator: gen).to(ScalarType.BFloat16);              // [M, in]
            var nf4 = Nf4Quantizer.Quantize(w, doubleQuant: true);
            var target = empty([outF, inF], ScalarType.BFloat16);                             // warm, reused
            using var perCall = new Nf4Linear(Nf4Quantizer.Quantize(w, doubleQuant: true));
            using var cached = new Nf4Linear(Nf4Quantizer.Quantize(w, doubleQuant: true), cacheDequantized: true);
            using var copy = new CopyBuffers(2 * n);

            var variants = new List<(string Name, Action Run)> { ("copy", () => copy.Run(threads)) };
            variants.AddRange(paths.Select(p => ($"dequant-{p}", (Action)(() => nf4.DequantizeInto(target, p)))));
            variants.Add(("bf16", () => nn.functional.linear(x, w).Dispose()));
            variants.Add(("nf4", () => perCall.forward(x).Dispose()));
            variants.Add(("cached", () => cached.forward(x).Dispose()));
            var ms = TimeInterleaved(variants);

            var best = Nf4DecodePaths.Best;
            results.Add(new Nf4Result
            {
                Shape = $"W [{outF}, {inF}], x [{rows}, {inF}]",
                Threads = threads,
                CopyGBps = 2.0 * (2 * n) / (ms["copy"] * 1e-3) / 1e9,
                DequantMs = ms[$"dequant-{best}"],
                DecodePath = best.ToString(),
                DequantMsByPath = paths.ToDictionary(p => p.ToString(), p => ms[$"dequant-{p}"]),
                DequantBytes = n / 2.0 + n / 64.0 + 2.0 * n,   // packed + 8-bit absmax in, bf16 out
                Bf16LinearMs = ms["bf16"],
                Nf4LinearMs = ms["nf4"],
                Nf4CachedLinearMs = ms["cached"],
                CacheBytes = 2 * n,
            });
            nf4.Dispose();
        }
        Nf4Linear.ReleaseScratchBuffers();
        return results;
    }

    /// <summary>Median milliseconds per variant over <see cref="Rounds"/> rounds (after warm-ups), each round running every variant once.</summary>
    static Dictionary<string, double> TimeInterleaved(IReadOnlyList<(string Name, Action Run)> variants)
    {
        var times = variants.ToDictionary(v => v.Name, _ => new List<double>());
        for (int round = 0; round < Warmups + Rounds; round++)
            foreach (var (name, run) in variants)
            {
                var clock = Stopwatch.StartNew();
                run();
                if (round >= Warmups) times[name].Add(clock.Elapsed.TotalMilliseconds);
            }
        return times.ToDictionary(t => t.Key, t => t.Value.Order().ElementAt(t.Value.Count / 2));
    }

    /// <summary>Two pre-touched native buffers; <see cref="Run"/> copies one into the other split over the threads.</summary>
    sealed class CopyBuffers : IDisposable
    {
        readonly byte* _src, _dst;
        readonly long _bytes;

        public CopyBuffers(long bytes)
        {
            _bytes = bytes;
            _src = (byte*)NativeMemory.Alloc((nuint)bytes);
            _dst = (byte*)NativeMemory.Alloc((nuint)bytes);
            for (long i = 0; i < bytes; i += int.MaxValue)
            {
                int length = (int)Math.Min(int.MaxValue, bytes - i);
                new Span<byte>(_src + i, length).Fill(1);
                new Span<byte>(_dst + i, length).Clear();
            }
        }

        public void Run(int threads)
        {
            long chunk = (_bytes + threads - 1) / threads;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
            {
                long start = i * chunk, length = Math.Min(chunk, _bytes - start);
                if (length > 0) Buffer.MemoryCopy(_src + start, _dst + start, length, length);
            });
        }

        public void Dispose()
        {
            NativeMemory.Free(_src);
            NativeMemory.Free(_dst);
        }
    }
}
