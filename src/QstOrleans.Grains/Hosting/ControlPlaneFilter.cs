using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.Extensions.Options;

namespace QstOrleans.Grains.Hosting;

/// <summary>Whether clients may call <see cref="ControlPlaneAttribute"/> methods (tests that inject faults directly: true).</summary>
public sealed class ControlPlaneOptions
{
    /// <summary>Default false: a client's call to a control-plane method is refused.</summary>
    public bool AllowClientCalls { get; set; }
}

/// <summary>
/// Refuses calls to <see cref="ControlPlaneAttribute"/> methods whose source is an external client. Calls from grains pass,
/// and so do calls grain code makes off the grain scheduler (they come from the silo's own hosted client, key <c>hosted-…</c>).
/// Cheap on the hot path: a call without a client source is passed on after one type check, and the attribute lookup is
/// cached per method.
/// </summary>
internal sealed class ControlPlaneFilter(IOptions<ControlPlaneOptions> options) : IIncomingGrainCallFilter
{
    static readonly ConcurrentDictionary<MethodInfo, bool> Marked = new();

    public Task Invoke(IIncomingGrainCallContext context)
    {
        if (options.Value.AllowClientCalls || context.SourceId is not { } source || !IsExternalClient(source)
            || !Marked.GetOrAdd(context.InterfaceMethod, m => m.GetCustomAttribute<ControlPlaneAttribute>() is not null))
            return context.Invoke();
        string method = $"{context.InterfaceMethod.DeclaringType?.Name}.{context.InterfaceMethod.Name}";
        throw new QstErrorException(ErrorKind.BadInput, "ControlPlaneCallRefused",
            $"{method} is internal to the cluster's pipeline and cannot be called by a client; use the job grain's public methods (QstClient)");
    }

    // Orleans' client ids have the grain type "sys.client"; a silo's hosted client is keyed "hosted-<silo address>".
    internal static bool IsExternalClient(GrainId source) =>
        source.Type.ToString() == "sys.client" && !source.Key.ToString().StartsWith("hosted-", StringComparison.Ordinal);
}
