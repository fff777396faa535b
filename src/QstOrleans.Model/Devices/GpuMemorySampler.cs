using System.Runtime.InteropServices;

namespace QstOrleans.Model.Devices;

/// <summary>
/// Peak GPU memory of a run, read from the NVIDIA driver (NVML) on a background thread every few milliseconds.
/// TorchSharp exposes none of PyTorch's allocator statistics, so this measures what the driver sees as used on
/// the device: the CUDA context plus everything PyTorch's caching allocator has reserved (≥ allocated). Measured
/// against a baseline taken at start, on a device no other process uses, it is the run's footprint.
/// Throws <see cref="InvalidOperationException"/> when NVML (libnvidia-ml.so.1) cannot be loaded or answers with an error.
/// </summary>
public sealed class GpuMemorySampler : IDisposable
{
    readonly IntPtr _device;
    readonly Thread _thread;
    volatile bool _stop;
    long _peak;

    /// <summary>Device memory in use when sampling started (other processes, the driver).</summary>
    public long BaselineBytes { get; }
    /// <summary>Highest device memory in use seen so far.</summary>
    public long PeakBytes => Interlocked.Read(ref _peak);
    /// <summary>Total device memory.</summary>
    public long TotalBytes { get; }

    public GpuMemorySampler(int deviceIndex, TimeSpan? interval = null)
    {
        Check(Nvml.nvmlInit_v2(), "nvmlInit_v2");
        Check(Nvml.nvmlDeviceGetHandleByIndex_v2((uint)deviceIndex, out _device), "nvmlDeviceGetHandleByIndex_v2");
        var (used, total) = Read();
        BaselineBytes = used;
        TotalBytes = total;
        _peak = used;
        var period = interval ?? TimeSpan.FromMilliseconds(2);
        _thread = new Thread(() =>
        {
            while (!_stop)
            {
                long now = Read().Used;
                if (now > Interlocked.Read(ref _peak)) Interlocked.Exchange(ref _peak, now);
                Thread.Sleep(period);
            }
        }) { IsBackground = true, Name = "gpu-memory-sampler" };
        _thread.Start();
    }

    /// <summary>
    /// Memory in use on device <paramref name="deviceIndex"/> and its total, read once from the driver (the silo's
    /// <c>qst_gpu_memory_*</c> gauges); null when NVML cannot be loaded or does not answer (no NVIDIA driver).
    /// </summary>
    public static (long UsedBytes, long TotalBytes)? ReadDevice(int deviceIndex)
    {
        try
        {
            if (Nvml.nvmlInit_v2() != 0) return null;   // reference counted by the driver: every init has its shutdown
            try
            {
                if (Nvml.nvmlDeviceGetHandleByIndex_v2((uint)deviceIndex, out var device) != 0
                    || Nvml.nvmlDeviceGetMemoryInfo(device, out var memory) != 0) return null;
                return ((long)memory.Used, (long)memory.Total);
            }
            finally
            {
                Nvml.nvmlShutdown();
            }
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Memory in use now.</summary>
    public long UsedBytes => Read().Used;

    (long Used, long Total) Read()
    {
        Check(Nvml.nvmlDeviceGetMemoryInfo(_device, out var info), "nvmlDeviceGetMemoryInfo");
        return ((long)info.Used, (long)info.Total);
    }

    static void Check(int status, string call)
    {
        if (status != 0) throw new InvalidOperationException($"NVML {call} failed with status {status}");
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
        Nvml.nvmlShutdown();
    }

    static class Nvml
    {
        const string Library = "libnvidia-ml.so.1";

        [StructLayout(LayoutKind.Sequential)]
        public struct Memory
        {
            public ulong Total, Free, Used;
        }

        [DllImport(Library)] public static extern int nvmlInit_v2();
        [DllImport(Library)] public static extern int nvmlShutdown();
        [DllImport(Library)] public static extern int nvmlDeviceGetHandleByIndex_v2(uint index, out IntPtr device);
        [DllImport(Library)] public static extern int nvmlDeviceGetMemoryInfo(IntPtr device, out Memory memory);
    }
}
