namespace QstOrleans.Grains.Hosting;

/// <summary>
/// The silo's error boundary: every grain call's exception whose type (or an inner exception's type) is one of the
/// project's own leaves the grain as a <see cref="QstErrorException"/> carrying its message and <see cref="ErrorKind"/>.
/// The engine's and storage's exception types (<c>SafeTensorsFormatException</c>, <c>ModelWeightsException</c>,
/// <c>CheckpointCorruptException</c>, <c>ModelConfigException</c>, …) never reference Orleans and so have no codec:
/// without this boundary the caller would see "Could not find a codec for type …" and lose the message, and recovery
/// would take the error for a transient one. System and Orleans exceptions pass unchanged (Orleans has their codecs).
/// </summary>
internal sealed class ErrorBoundaryFilter : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        try
        {
            await context.Invoke();
        }
        catch (Exception e) when (NeedsTranslation(e))
        {
            throw Translate(e);
        }
    }

    /// <summary>The error as it may cross silos.</summary>
    public static QstErrorException Translate(Exception e)
    {
        var inner = Faults.Unwrap(e);
        return new QstErrorException(Faults.Classify(inner), inner.GetType().Name, inner.Message);
    }

    static readonly System.Reflection.Assembly ContractsAssembly = typeof(QstErrorException).Assembly;

    /// <summary>True when <paramref name="e"/> or one of its inner exceptions is a project type without a codec.</summary>
    public static bool NeedsTranslation(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is AggregateException aggregate && aggregate.InnerExceptions.Any(NeedsTranslation)) return true;
            // The contracts' own exceptions (QstErrorException, JobNotFoundException, …) have codecs: they pass as themselves.
            if (x.GetType().Assembly != ContractsAssembly && x.GetType().Namespace?.StartsWith("QstOrleans", StringComparison.Ordinal) == true) return true;
        }
        return false;
    }
}
