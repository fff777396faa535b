using Microsoft.Extensions.Logging;
using QstOrleans.Contracts.Security;

namespace QstOrleans.Grains.Security;

/// <summary>
/// With a tokens file (<see cref="AuthOptions.TokensFile"/>): every call whose source is an outside client must carry a
/// known token (<see cref="QstAuth.TokenKey"/>). The token is removed from the request context at once (it never reaches
/// grain code, storage, logs or further calls), and the verified principal is set under <see cref="QstAuth.PrincipalKey"/>,
/// overwriting anything the client sent there; <see cref="JobAccess"/> then checks job ownership. Orleans' system targets
/// (the client handshake) are not checked: they hold no job data and run no QstOrleans code. Calls between grains
/// pass untouched (the pipeline's internal calls are not client calls: <see cref="ClusterKey.IsClusterCall"/>; with a cluster
/// key a client naming itself like a silo's hosted client is a client), and carry the principal of the client call that started them.
/// </summary>
internal sealed class ClientAuthFilter(TokenDirectory tokens, IGrainFactory grains, ClusterKey key, ILogger<ClientAuthFilter> log) : IIncomingGrainCallFilter
{
    public async Task Invoke(IIncomingGrainCallContext context)
    {
        // Orleans' own system targets pass: a client's handshake (cluster manifest, client directory) calls them before it
        // can make any grain call, and refusing it would look like an unreachable cluster instead of a refused token.
        if (key.IsClusterCall(context, trustGrainSources: true) || SystemTargetGrainId.IsSystemTargetGrainId(context.TargetId))
        {
            await context.Invoke();
            return;
        }
        var token = RequestContext.Get(QstAuth.TokenKey) as string;
        RequestContext.Remove(QstAuth.TokenKey);
        RequestContext.Remove(QstAuth.PrincipalKey);
        string method = $"{context.InterfaceMethod.DeclaringType?.Name}.{context.InterfaceMethod.Name}";
        if (string.IsNullOrEmpty(token))
        {
            log.LogWarning("refused {Method} from client {Client}: no token", method, context.SourceId);
            throw new QstAccessDeniedException(true, $"this cluster requires a client token (its silos have Qst:Auth:TokensFile): set {QstAuth.TokenOptions}");
        }
        var principal = tokens.Verify(token);
        if (principal is null)
        {
            log.LogWarning("refused {Method} from client {Client}: unknown or revoked token", method, context.SourceId);
            throw new QstAccessDeniedException(true, $"the cluster did not accept this client's token (unknown or revoked): check {QstAuth.TokenOptions}");
        }
        RequestContext.Set(QstAuth.PrincipalKey, principal.Encode());
        await JobAccess.CheckAsync(context, principal, grains, method);
        await context.Invoke();
    }
}
