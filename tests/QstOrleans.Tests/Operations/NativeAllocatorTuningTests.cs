using System.CommandLine;
using System.Runtime.InteropServices;
using QstOrleans.Cli.Train;
using QstOrleans.Configuration;
using QstOrleans.Model.Devices;
using QstOrleans.Model.Metrics;

namespace QstOrleans.Tests.Operations;

/// <summary>
/// Issue 14: the glibc tuning that keeps freed step buffers in the heap (<see cref="NativeAllocatorTuning"/>), the minor-fault
/// counter the benchmark measures it with (<see cref="PageFaults"/>), and its config key. How much it saves per step is a
/// benchmark figure (<c>qst bench run-one --allocator-tuning true|false</c>, <c>minorFaultsPerStep</c>), never asserted here.
/// </summary>
public sealed class NativeAllocatorTuningTests
{
    // A line as Linux 6.x writes it for a process named "tmux: server": minflt (field 10) is 48123.
    const string TmuxStat = "2357 (tmux: server) S 1 2357 2357 0 -1 4194624 48123 0 12 0 310 95 0 0 20 0 1 0 1823 13512704 1270 " +
                            "18446744073709551615 1 1 0 0 0 0 0 528386 134433281 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    [Fact]
    public void MinorFaultsAreField10EvenWhenTheNameHasSpacesAndParentheses()
    {
        Assert.Equal(48123, PageFaults.ParseMinorFaults(TmuxStat));
        // This process's real line, its fields after the name kept as the kernel wrote them, under a name that would shift
        // every field of a naive split: "(a) b)" holds spaces and both parentheses.
        string real = File.ReadAllText("/proc/self/stat");
        string afterName = real[(real.LastIndexOf(')') + 1)..];
        long expected = long.Parse(afterName.Split(' ', StringSplitOptions.RemoveEmptyEntries)[7]);   // fields 3.. → field 10
        Assert.Equal(expected, PageFaults.ParseMinorFaults($"{Environment.ProcessId} ((a) b) x){afterName}"));
        Assert.NotEqual(expected, long.Parse($"1 ((a) b) x){afterName}".Split(' ')[9]));              // what a naive split reads
    }

    [Theory]
    [InlineData("")]
    [InlineData("2357 tmux S 1")]
    [InlineData("2357 (tmux) S 1 2357 2357 0 -1 4194624")]
    [InlineData("2357 (tmux) S 1 2357 2357 0 -1 4194624 many 0")]
    public void ALineWithoutMinfltIsRefusedNamingTheFile(string line)
    {
        var e = Assert.Throws<FormatException>(() => PageFaults.ParseMinorFaults(line));
        Assert.Contains("/proc/self/stat", e.Message);
    }

    [Fact]
    public void TheLiveCounterAgreesWithGetrusage()
    {
        // A second code path: getrusage(RUSAGE_SELF).ru_minflt counts the same faults (all threads, live and exited).
        long? before = PageFaults.MinorFaults();
        long rusageBefore = RusageMinorFaults();
        const int bytes = 64 << 20;                      // above every mmap threshold: fresh pages from the kernel
        IntPtr block = Marshal.AllocHGlobal(bytes);
        try
        {
            for (int offset = 0; offset < bytes; offset += 4096) Marshal.WriteByte(block, offset, 1);
        }
        finally { Marshal.FreeHGlobal(block); }
        long? after = PageFaults.MinorFaults();
        long rusageAfter = RusageMinorFaults();
        Assert.NotNull(before);
        long delta = after!.Value - before.Value, rusageDelta = rusageAfter - rusageBefore;
        // At least one fault per 2 MiB (transparent huge pages may serve a whole 2 MiB range with one fault).
        Assert.True(delta >= bytes / (2 << 20), $"minflt grew by {delta} touching {bytes} fresh bytes");
        // Other threads (GC, the test host) fault between the two reads of each pair: equal within a few hundred pages.
        Assert.True(Math.Abs(delta - rusageDelta) <= 500 + delta / 20, $"/proc/self/stat minflt +{delta}, getrusage +{rusageDelta}");
    }

    [Fact]
    public void TheTuningReportsWhichOptionsGlibcAccepted()
    {
        var result = NativeAllocatorTuning.ApplyOnce(true);
        // The first call of the process decides; every in-process silo and run asks for the default (on) too.
        Assert.Same(result, NativeAllocatorTuning.Current);
        Assert.Same(result, NativeAllocatorTuning.ApplyOnce(false));
        Assert.True(result.Requested);
        Assert.StartsWith("glibc ", result.Allocator);                       // the CI image is Debian (glibc)
        Assert.Equal([$"M_MMAP_THRESHOLD={32 << 20}", $"M_TRIM_THRESHOLD={1 << 30}"], result.Accepted.Select(a => a.Key));
        Assert.True(result.Applied, result.Describe());
        Assert.Equal(32 << 20, NativeAllocatorTuning.MaxMmapThreshold);
        // mallopt's answer is read, not assumed: glibc refuses M_MXFAST (1) above its 160-byte maximum and returns 0, which the
        // same call the tuning makes reports (glibc 2.36 accepts any M_MMAP_THRESHOLD, so that one cannot show a refusal here).
        Assert.False(NativeAllocatorTuning.Mallopt(1, 1 << 20));
    }

    [Fact]
    public void TheConfigKeyIsABooleanNamedInItsError()
    {
        Assert.True(TrainingConfig.Defaults.Runtime.AllocatorTuning);
        using var dir = new TestDirectory();
        string file = dir.Write("bad.json", """{ "runtime": { "allocator_tuning": "maybe" } }""");
        var e = Assert.Throws<ArgumentException>(() => TrainingConfigFile.Load(file));
        Assert.Contains(file, e.Message);
        Assert.Contains("runtime.allocator_tuning", e.Message);

        var options = new TrainingOptions("", _ => true);
        var command = new Command("train-local");
        options.AddTo(command);
        Assert.False(options.Resolve(command.Parse(["--allocator-tuning", "false"])).Runtime.AllocatorTuning);
        // A bool option takes an optional value: System.CommandLine refuses "maybe" as a stray argument, as for every bool key
        // (the CLI prints it with exit code 2 and `see qst train-local --help`).
        Assert.Contains(command.Parse(["--allocator-tuning", "maybe"]).Errors, error => error.Message.Contains("'maybe'"));
        Assert.Contains(command.Parse(["--allocator-tuning=maybe"]).Errors, error => error.Message.Contains("'maybe'"));
    }

    [StructLayout(LayoutKind.Sequential)]
    struct Rusage
    {
        public long UtimeSec, UtimeUsec, StimeSec, StimeUsec;
        public long MaxRss, IxRss, IdRss, IsRss, MinFlt, MajFlt, NSwap, InBlock, OuBlock, MsgSnd, MsgRcv, NSignals, NvCsw, NivCsw;
    }

    [DllImport("libc", SetLastError = true)] static extern int getrusage(int who, out Rusage usage);

    static long RusageMinorFaults()
    {
        Assert.Equal(0, getrusage(0 /* RUSAGE_SELF */, out var usage));
        return usage.MinFlt;
    }
}
