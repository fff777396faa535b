namespace QstOrleans.Tests.EndToEnd;

/// <summary>
/// The silo process rejects bad configuration with exit code 2 and a message naming the offending key,
/// whichever source it came from (command line or environment variable).
/// </summary>
public sealed class SiloConfigurationTests
{
    [Fact]
    public async Task BadValuesNameTheirKey()
    {
        var cases = new (string[] Args, string Expected)[]
        {
            (["--Qst:SiloPort", "abc"], "'Qst:SiloPort'"),
            (["--Qst:Slots:0:Device", "gpu0"], "Qst:Slots:0:Device: 'gpu0' is not a device"),
            (["--Qst:Clustering", "redis"], "Qst:Redis: a connection string"),
            (["--Qst:Clustering", "zookeeper"], "Qst:Clustering: unknown value 'zookeeper'"),
            (["--Qst:Slots:1:Device", "cpu:0"], "Qst:Slots: device 'cpu:0' is declared twice"),
        };
        var processes = cases.Select(c => new ChildProcess("silo", "dotnet", [RepoPaths.SiloDll, .. c.Args])).ToList();
        try
        {
            int[] codes = await Task.WhenAll(processes.Select(p => p.WaitForExit(TimeSpan.FromSeconds(60))));
            for (int i = 0; i < cases.Length; i++)
            {
                Assert.True(codes[i] == 2, $"{string.Join(' ', cases[i].Args)}: exit code {codes[i]}\n{processes[i].Output}");
                Assert.Contains(cases[i].Expected, processes[i].Output);
            }
        }
        finally
        {
            foreach (var process in processes) process.Dispose();
        }
    }
}
