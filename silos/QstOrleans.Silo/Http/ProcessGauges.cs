using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace QstOrleans.Silo.Http;

/// <summary>
/// CPU-side memory of the silo process (<c>qst_process_*</c>), read at collection time: what an operator watches to size
/// a host's slots (NF4 stages are memory-bound). GPU memory is per device and read by the engine's sampler in benchmarks.
/// </summary>
public static class ProcessGauges
{
    public const string MeterName = "QstOrleans.Process";
    static readonly Meter Meter = new(MeterName, "1.0");
    static int _registered;

    public static void Register()
    {
        if (Interlocked.Exchange(ref _registered, 1) == 1) return;
        Meter.CreateObservableGauge("qst_process_working_set_bytes", () => Environment.WorkingSet, description: "Resident memory of the silo process");
        Meter.CreateObservableGauge("qst_process_managed_heap_bytes", () => GC.GetTotalMemory(false), description: "Managed heap in use");
        Meter.CreateObservableCounter("qst_process_cpu_seconds_total", () => Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds,
            description: "CPU time the silo process used");
    }
}
