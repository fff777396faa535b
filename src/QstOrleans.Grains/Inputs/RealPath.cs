using System.Runtime.InteropServices;

namespace QstOrleans.Grains.Inputs;

/// <summary>
/// The file system facts the input guard relies on: a path with every symlink resolved (each component, not just the
/// last; parts that do not exist are kept as written), and whether a path is a regular file (not a device, pipe or
/// socket: <c>/dev/zero</c> reads forever).
/// </summary>
internal static class RealPath
{
    const int MaxLinks = 40;   // as Linux' ELOOP limit

    /// <summary>The absolute form of <paramref name="path"/> with every symlink on the way resolved.</summary>
    /// <exception cref="IOException">A symlink loop.</exception>
    public static string Of(string path)
    {
        int links = 0;
        return Resolve(Path.GetFullPath(path), ref links);
    }

    static string Resolve(string full, ref int links)
    {
        string? parent = Path.GetDirectoryName(full);
        if (parent is null) return full;   // the file system root
        string resolved = Path.Combine(Resolve(parent, ref links), Path.GetFileName(full));
        while (new FileInfo(resolved).LinkTarget is { } target)
        {
            if (++links > MaxLinks) throw new IOException("too many levels of symbolic links");
            resolved = Resolve(Path.GetFullPath(target, Path.GetDirectoryName(resolved)!), ref links);
        }
        return resolved;
    }

    /// <summary>True when <paramref name="path"/> lies inside <paramref name="root"/> (both resolved).</summary>
    public static bool IsUnder(string path, string root)
    {
        var comparison = OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal;
        string withSeparator = Path.EndsInDirectorySeparator(root) ? root : root + Path.DirectorySeparatorChar;
        return path.Equals(root, comparison) || path.StartsWith(withSeparator, comparison);
    }

    /// <summary>True for a regular file (following symlinks); false for devices, pipes, sockets, directories and missing paths.</summary>
    public static bool IsRegularFile(string path)
    {
        if (OperatingSystem.IsWindows()) return File.Exists(path);
        // .NET exposes no file type on Unix; its own native shim does (the struct layout is the runtime's, not the OS').
        var status = new byte[256];
        if (SystemNativeStat(path, status) != 0) return false;
        int mode = BitConverter.ToInt32(status, 4);
        return (mode & 0xF000) == 0x8000;   // S_IFMT == S_IFREG
    }

    [DllImport("libSystem.Native", EntryPoint = "SystemNative_Stat")]
    static extern int SystemNativeStat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] output);
}
