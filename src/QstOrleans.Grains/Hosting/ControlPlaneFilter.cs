using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace QstOrleans.Grains.Hosting;

/// <summary>Whether clients may call <see cref="ControlPlaneAttribute"/> methods (tests that inject faults directly: true).</summary>
public sealed class ControlPlaneOptions
{
    /// <summary>Default false: a client's call to a control-plane method is refused.</summary>
    public bool AllowClientCalls { get; set; }
}

/// <summary>
/// Refuses calls to <see cref="ControlPlaneAttribute"/> methods that are not the cluster's own
/// (<see cref="Security.ClusterKey.IsClusterCall"/>). With a cluster key (<c>Qst:Auth:ClusterKeyFile</c>) only calls carrying
/// it pass: a client cannot pass by naming itself like a silo's hosted client or by putting a guessed key in its request
/// context. Without one: calls from grains and from the silos' hosted clients (id <c>hosted-…</c>) pass. Cheap on the hot
/// path: the attribute lookup is cached per method and comes first.
/// </summary>
internal sealed class ControlPlaneFilter(IOptions<ControlPlaneOptions> options, Security.ClusterKey key, ILogger<ControlPlaneFilter> log) : IIncomingGrainCallFilter
{
    static readonly ConcurrentDictionary<MethodInfo, bool> Marked = new();

    public Task Invoke(IIncomingGrainCallContext context)
    {
        if (options.Value.AllowClientCalls || !Marked.GetOrAdd(context.InterfaceMethod, m => m.GetCustomAttribute<ControlPlaneAttribute>() is not null)
            || key.IsClusterCall(context))
            return context.Invoke();
        string method = $"{context.InterfaceMethod.DeclaringType?.Name}.{context.InterfaceMethod.Name}";
        log.LogWarning("refused {Method} from {Source}: not a call of the cluster's own", method, context.SourceId);
        throw new QstErrorException(ErrorKind.BadInput, "ControlPlaneCallRefused",
            $"{method} is internal to the cluster's pipeline and cannot be called by a client; use the job grain's public methods (QstClient)");
    }
}
