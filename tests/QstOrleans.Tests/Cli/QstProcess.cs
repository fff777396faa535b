using System.Runtime.InteropServices;
using QstOrleans.Tests.EndToEnd;

namespace QstOrleans.Tests.Cli;

/// <summary>
/// <c>dotnet qst.dll ARGS</c> as a child process (the built CLI, so exit codes, stderr and signals are the real ones), with
/// its embedded-default cache in a folder of the test's, and Ctrl+C as a SIGINT to its PID.
/// </summary>
internal static class QstProcess
{
    public const int SigInt = 2;

    public static ChildProcess Start(string cacheDirectory, params string[] args) =>
        new("qst " + string.Join(' ', args), "dotnet", [RepoPaths.QstDll, .. args], cacheDirectory,
            new Dictionary<string, string> { ["XDG_CACHE_HOME"] = cacheDirectory });

    /// <summary>Sends SIGINT (what Ctrl+C in a terminal sends) to this process only.</summary>
    public static void Interrupt(this ChildProcess process)
    {
        if (kill(process.Id, SigInt) != 0) throw new InvalidOperationException($"kill({process.Id}, SIGINT) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>How often <paramref name="text"/> occurs in <paramref name="output"/>.</summary>
    public static int Count(string output, string text)
    {
        int n = 0;
        for (int i = output.IndexOf(text, StringComparison.Ordinal); i >= 0; i = output.IndexOf(text, i + text.Length, StringComparison.Ordinal)) n++;
        return n;
    }

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int sig);
}
