namespace QstOrleans.Client;

/// <summary>Why <see cref="QstClient.ConnectAsync"/> could not reach the cluster.</summary>
public enum ConnectionProblem
{
    /// <summary>The clustering store (Redis) refused the connection or did not answer.</summary>
    ClusteringStoreUnreachable,
    /// <summary>The clustering store answers but holds no cluster with this cluster id / service id (a wrong <c>--cluster-id</c>,
    /// or no silo of that cluster ever started there).</summary>
    UnknownCluster,
    /// <summary>Nothing listens on any of the gateway ports (no silo running there).</summary>
    NoSilo,
    /// <summary>A gateway or the cluster was found, but no silo accepted the client in time (silos still starting, a
    /// wrong cluster id on a localhost gateway, or every silo of the cluster down).</summary>
    NotAccepted,
}

/// <summary>
/// <see cref="QstClient.ConnectAsync"/> could not reach the cluster; <see cref="Problem"/> says which of the distinct
/// cases it was and the message names the option to check. The first three cases are detected within seconds.
/// </summary>
public sealed class QstConnectionException(ConnectionProblem problem, string message, Exception? inner = null)
    : TimeoutException(message, inner)
{
    /// <summary>Which case it was.</summary>
    public ConnectionProblem Problem { get; } = problem;
}
