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
            // Recovery timing.
            (["--Qst:StallTimeout", "00:00:00"], "Qst:StallTimeout: must be a positive time span"),
            (["--Qst:Threads", "-1"], "Qst:Threads: must be 0 (one per core) or a positive thread count, got -1"),
            (["--Qst:AllocatorTuning", "maybe"], "'Qst:AllocatorTuning'"),
            (["--Qst:HealthProbeTimeout", "-00:00:01"], "Qst:HealthProbeTimeout: must be a positive time span"),
            (["--Qst:MaxRecoveriesWithoutProgress", "0"], "Qst:MaxRecoveriesWithoutProgress: must be at least 1, got 0"),
            (["--Qst:GrainDirectory", "eventual"], "Qst:GrainDirectory: unknown value 'eventual' (use distributed or partitioned)"),
            // Multi-host: failure detection timing and the advertised address (never loopback towards a remote Redis).
            (["--Qst:FailureDetection:ProbeTimeout", "00:00:00"], "Qst:FailureDetection:ProbeTimeout: must be a positive time span"),
            (["--Qst:FailureDetection:MissedProbesLimit", "0"], "Qst:FailureDetection:MissedProbesLimit: must be at least 1, got 0"),
            (["--Qst:FailureDetection:IAmAlivePeriod", "-00:00:01"], "Qst:FailureDetection:IAmAlivePeriod: must be a positive time span"),
            (["--Qst:Clustering", "redis", "--Qst:Redis", "10.99.0.1:6379", "--Qst:AdvertisedAddress", "127.0.0.1"],
                "Qst:AdvertisedAddress: 127.0.0.1 is a loopback address but Qst:Redis (10.99.0.1:6379) is on another host"),
            (["--Qst:Clustering", "redis", "--Qst:Redis", "127.0.0.1:6379", "--Qst:AdvertisedAddress", "0.0.0.0"],
                "Qst:AdvertisedAddress: 0.0.0.0 is not an address other hosts can reach"),
            (["--Qst:Clustering", "redis", "--Qst:Redis", "127.0.0.1:6379", "--Qst:AdvertisedAddress", "host-1"],
                "Qst:AdvertisedAddress: 'host-1' is not an IP address"),
            (["--Qst:ClusterId", "c1", "--Qst:ServiceId", " "], "Qst:ServiceId must not be empty"),
            // Storage: grain state, reminders, checkpoints.
            (["--Qst:State:Provider", "zookeeper"], "Qst:State:Provider: unknown value 'zookeeper'"),
            (["--Qst:State:Provider", "redis"], "Qst:State:Provider: redis needs Qst:Redis"),
            (["--Qst:State:Store", "s3"], "Qst:State:Store: unknown value 's3'"),
            (["--Qst:State:Store", "azure"], "Qst:State:ConnectionString: required when Qst:State:Store is azure"),
            (["--Qst:State:Store", "azure", "--Qst:Checkpoints:ConnectionString", "UseDevelopmentStorage=true", "--Qst:State:Container", "Bad_Name"],
                "Qst:State:Container: 'Bad_Name' is not a valid container name"),
            (["--Qst:State:Provider", "azure-table"], "Qst:State:ConnectionString: required when Qst:State:Provider is azure-table"),
            (["--Qst:State:Provider", "azure-table", "--Qst:Checkpoints:ConnectionString", "UseDevelopmentStorage=true", "--Qst:State:Table", "1bad"],
                "Qst:State:Table: '1bad' is not a valid table name"),
            (["--Qst:State:Provider", "azure-blob", "--Qst:State:ConnectionString", "UseDevelopmentStorage=true", "--Qst:State:Container", "Bad_Name"],
                "Qst:State:Container: 'Bad_Name' is not a valid container name"),
            (["--Qst:Reminders", "cosmos"], "Qst:Reminders: unknown value 'cosmos'"),
            (["--Qst:Reminders", "redis"], "Qst:Reminders: redis needs Qst:Redis"),
            (["--Qst:Checkpoints:Store", "s3"], "Qst:Checkpoints:Store: unknown value 's3'"),
            (["--Qst:Checkpoints:KeepLast", "0"], "Qst:Checkpoints:KeepLast: keep at least 1 checkpoint, got 0"),
            (["--Qst:Checkpoints:KeepLast", "three"], "'Qst:Checkpoints:KeepLast'"),
            (["--Qst:Checkpoints:Store", "azure"], "Qst:Checkpoints:ConnectionString: a storage connection string is required"),
            (["--Qst:Checkpoints:Store", "azure", "--Qst:Checkpoints:ConnectionString", "UseDevelopmentStorage=true", "--Qst:Checkpoints:Container", "x"],
                "Qst:Checkpoints:Container: 'x' is not a valid container name"),
        };
        // A few processes at a time: each is a .NET start (≈0.5 s of CPU) on a small shared box.
        foreach (var batch in cases.Chunk(6))
        {
            var processes = batch.Select(c => new ChildProcess("silo", "dotnet", [RepoPaths.SiloDll, .. c.Args])).ToList();
            try
            {
                int[] codes = await Task.WhenAll(processes.Select(p => p.WaitForExit(TimeSpan.FromSeconds(60))));
                for (int i = 0; i < batch.Length; i++)
                {
                    Assert.True(codes[i] == 2, $"{string.Join(' ', batch[i].Args)}: exit code {codes[i]}\n{processes[i].Output}");
                    Assert.Contains(batch[i].Expected, processes[i].Output);
                }
            }
            finally
            {
                foreach (var process in processes) process.Dispose();
            }
        }
    }
}
