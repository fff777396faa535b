namespace QstOrleans.Grains.Security;

/// <summary>
/// First incoming filter of a silo with a <see cref="ClusterKey"/>: takes the key out of the request context (it never reaches
/// grain code, logs or further calls as such) and marks the call verified when it matched, clearing any mark a caller sent
/// itself. <see cref="ClusterKey.IsClusterCall"/> reads the mark (the control plane and the token filter).
/// </summary>
internal sealed class ClusterKeyCheck(ClusterKey key) : IIncomingGrainCallFilter
{
    public Task Invoke(IIncomingGrainCallContext context)
    {
        var presented = RequestContext.Get(ClusterKey.ContextKey);
        if (presented is not null) RequestContext.Remove(ClusterKey.ContextKey);
        if (key.Matches(presented)) RequestContext.Set(ClusterKey.VerifiedKey, true);
        else if (RequestContext.Get(ClusterKey.VerifiedKey) is not null) RequestContext.Remove(ClusterKey.VerifiedKey);
        return context.Invoke();
    }
}
