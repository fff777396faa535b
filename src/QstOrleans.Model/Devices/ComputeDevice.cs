using System.Text.RegularExpressions;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Model.Devices;

/// <summary>
/// Parses a user's device name (<c>cpu</c>, <c>cuda</c>, <c>cuda:N</c>) into a torch device and checks that this
/// process can use it. CUDA needs TorchSharp's CUDA native libraries (README, "Running on CUDA"); TorchSharp probes
/// for them once, when it is first used, so a CPU-only build answers "not available" rather than failing later.
/// </summary>
public static partial class ComputeDevice
{
    [GeneratedRegex(@"^(cpu|cuda)(:(\d+))?$")]
    private static partial Regex Pattern();

    /// <summary>The device for <paramref name="name"/>; <paramref name="what"/> names the option or key in errors. <c>cpu:N</c>
    /// (a device slot's name) is the CPU: slots on one host share it.</summary>
    /// <exception cref="ArgumentException">Not a device name; CUDA asked for but not available in this process; an index past
    /// the device count. All name <paramref name="what"/>: they are the user's choice to fix, so the CLI reports them as input errors.</exception>
    public static Device Parse(string name, string what = "--device")
    {
        var match = Pattern().Match((name ?? "").Trim().ToLowerInvariant());
        if (!match.Success) throw new ArgumentException($"{what}: '{name}' is not a device (use cpu, cuda or cuda:N)");
        if (match.Groups[1].Value == "cpu") return CPU;
        if (!cuda.is_available())
            throw new ArgumentException($"{what}: '{name}' asked for CUDA, but this process has no CUDA: TorchSharp's CUDA libraries " +
                "were not found (build with -p:TorchBackend=cuda, or see the README's \"Running on CUDA\")");
        int index = match.Groups[3].Success ? int.Parse(match.Groups[3].Value) : 0;
        int count = cuda.device_count();
        if (index >= count) throw new ArgumentException($"{what}: '{name}' but this host has {count} CUDA device(s)");
        return new Device(DeviceType.CUDA, index);
    }

    /// <summary>Waits for the device's queued work (timing a CUDA step needs it; a no-op on the CPU).</summary>
    public static void Synchronize(Device device)
    {
        if (device.type == DeviceType.CUDA) cuda.synchronize(device);
    }

    /// <summary>"cpu" or "cuda:N", as users write it.</summary>
    public static string Describe(Device device) => device.type == DeviceType.CUDA ? $"cuda:{Math.Max(device.index, 0)}" : "cpu";
}
