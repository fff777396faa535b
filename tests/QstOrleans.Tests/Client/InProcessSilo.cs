using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using QstOrleans.Cli.ModelTools;
using QstOrleans.Data.Datasets;
using QstOrleans.Grains.Hosting;

namespace QstOrleans.Tests.Client;

/// <summary>
/// One real silo in the test process, configured as <c>qst train --local</c> configures its own (<see cref="LocalSiloHost"/>),
/// reached through its gateway like any app: what <see cref="LocalSiloFixture"/> and the trust tests' fixture share.
/// </summary>
internal static class InProcessSilo
{
    /// <summary>The tiny model (seed 11) and a 32-record Alpaca dataset the fixtures' jobs train on.</summary>
    public static void WriteTinyInputs(string modelDirectory, string dataFile)
    {
        MakeModelCommand.Run("tiny", modelDirectory, seed: 11);
        SyntheticDatasets.WriteAlpacaJsonl(dataFile, 32, seed: 11);
    }

    public static async Task<IHost> StartAsync(LocalSiloOptions options, Action<ILoggingBuilder> logging)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        logging(builder.Logging);
        builder.UseOrleans(silo => silo.AddQstLocal(options));
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    /// <summary>Stops the silo (if it started) and deletes <paramref name="folder"/>.</summary>
    public static async Task StopAsync(IHost? host, string folder)
    {
        if (host is not null)
        {
            await host.StopAsync(TimeSpan.FromSeconds(10));
            host.Dispose();
        }
        try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
    }
}
