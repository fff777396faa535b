using QstOrleans.Data.Datasets;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;

namespace QstOrleans.Cli.Shared;

/// <summary>Turns the engine's input errors into one clear line on stderr and exit code 2 (no stack trace).</summary>
internal static class CliErrors
{
    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e) when (e is ModelConfigException or ModelWeightsException or SafeTensorsFormatException
                                      or DataFormatException or ArgumentException or FileNotFoundException
                                      or DirectoryNotFoundException or NotSupportedException or InvalidDataException
                                      or FormatException or NonFiniteTrainingException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
