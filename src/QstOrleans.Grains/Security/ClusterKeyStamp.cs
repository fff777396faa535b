namespace QstOrleans.Grains.Security;

/// <summary>
/// Outgoing filter of a silo with a <see cref="ClusterKey"/>: every grain call it makes (from grains, timers, startup tasks or
/// grain code off the scheduler) carries the key, so the receiving silo knows it for the cluster's own. Calls to clients
/// (observers) never carry it: the key stays among silos.
/// </summary>
internal sealed class ClusterKeyStamp(ClusterKey key) : IOutgoingGrainCallFilter
{
    public async Task Invoke(IOutgoingGrainCallContext context)
    {
        // async: the key is set in this call's copy of the request context only, not in the calling grain's.
        if (context.TargetId.Type.ToString() != "sys.client") RequestContext.Set(ClusterKey.ContextKey, key.Value!);
        await context.Invoke();
    }
}
