namespace QstOrleans.Grains.Hosting;

/// <summary>
/// Names of the Orleans providers the grains use. The host registers them (Redis on clusters, the blob-store
/// provider for the embedded default, memory in tests); the grains only name them.
/// </summary>
public static class QstProviders
{
    /// <summary>Grain storage for the small durable state: job spec, progress, data cursor, latest checkpoint.</summary>
    public const string State = "qst-state";
}
