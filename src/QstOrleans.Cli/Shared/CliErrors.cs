using System.Reflection;
using Orleans.Runtime;
using QstOrleans.Data.Datasets;
using QstOrleans.Model.Backbone;
using QstOrleans.Model.Config;
using QstOrleans.Model.SafeTensors;
using QstOrleans.Model.Training;

namespace QstOrleans.Cli.Shared;

/// <summary>
/// The exit codes every verb shares, and the one place an error becomes one line on stderr ("error: …", never a stack
/// trace; <c>QST_DEBUG=1</c> adds it): 0 success, 1 failure, 2 bad input (a file, field, option or job id the user
/// gave), 3 cluster unreachable, 4 detached from a remote job, 5 refused by the cluster (no or wrong --token, another user's
/// job), 130 interrupted (Ctrl+C).
/// </summary>
internal static class CliErrors
{
    public const int Failure = 1;
    public const int BadInput = 2;
    public const int Unreachable = 3;
    public const int AccessDenied = 5;

    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception e)
        {
            return Report(e);
        }
    }

    public static async Task<int> RunAsync(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e)
        {
            return Report(e);
        }
    }

    /// <summary>Prints <paramref name="error"/> once and returns its exit code.</summary>
    public static int Report(Exception error)
    {
        var e = Unwrap(error);
        int code = ExitCodeOf(e);
        Console.Error.WriteLine(code switch
        {
            Interrupts.ExitCode => "interrupted",
            Unreachable when e is not TimeoutException => $"error: the cluster did not answer: {e.Message}",
            _ => $"error: {Message(e)}",
        });
        if (Environment.GetEnvironmentVariable("QST_DEBUG") == "1") Console.Error.WriteLine(error);
        return code;
    }

    /// <summary>2 for bad input, 3 for a cluster that did not answer, 5 for a refused client, 130 for an operation Ctrl+C cancelled, else 1.</summary>
    public static int ExitCodeOf(Exception e) => e switch
    {
        OperationCanceledException when Interrupts.Requested => Interrupts.ExitCode,
        QstOrleans.Contracts.Security.QstAccessDeniedException => AccessDenied,
        ModelConfigException or ModelWeightsException or SafeTensorsFormatException or DataFormatException or ArgumentException
            or FileNotFoundException or DirectoryNotFoundException or NotSupportedException or InvalidDataException or FormatException
            or NonFiniteTrainingException => BadInput,
        // The client library's unknown-job error (matched by name: it lives in the client package).
        _ when e.GetType().Name == "JobNotFoundException" => BadInput,
        OrleansException or TimeoutException or OperationCanceledException or System.Net.Sockets.SocketException
            or StackExchange.Redis.RedisException => Unreachable,
        _ => Failure,
    };

    /// <summary>The message without the " (Parameter 'x')" an <see cref="ArgumentException"/> appends: the text names the option already.</summary>
    static string Message(Exception e) =>
        e is ArgumentException { ParamName: { } name } ? e.Message.Replace($" (Parameter '{name}')", "", StringComparison.Ordinal) : e.Message;

    static Exception Unwrap(Exception e) => e switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => Unwrap(a.InnerExceptions[0]),
        TargetInvocationException { InnerException: { } inner } => Unwrap(inner),
        _ => e,
    };
}
