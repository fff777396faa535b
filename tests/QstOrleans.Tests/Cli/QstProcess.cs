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
        // A child started with SIGINT ignored keeps ignoring it (.NET, like a shell, leaves an inherited SIG_IGN alone): the
        // signal would vanish and the test time out minutes later. That happens when the test run itself was started with
        // SIGINT ignored (`dotnet test … &` from a script, nohup): say so now.
        if (IgnoresSigInt(process.Id))
            throw new InvalidOperationException($"{process.Name} ignores SIGINT, inherited from the test run (started in the background by a " +
                                                "non-interactive shell, or under nohup?): Ctrl+C cannot be tested; run `dotnet test` in the foreground or with `set -m`");
        if (kill(process.Id, SigInt) != 0) throw new InvalidOperationException($"kill({process.Id}, SIGINT) failed: errno {Marshal.GetLastPInvokeError()}");
    }

    /// <summary>Whether process <paramref name="pid"/> ignores SIGINT (its SigIgn mask in /proc; false where there is no /proc).</summary>
    static bool IgnoresSigInt(int pid)
    {
        string status = $"/proc/{pid}/status";
        if (!File.Exists(status)) return false;
        var line = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal));
        return line is not null && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (SigInt - 1))) != 0;
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
