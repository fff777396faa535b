using Microsoft.Extensions.DependencyInjection;

namespace QstOrleans.Grains.Security;

/// <summary>Turns on client authentication and job owners for a silo (<see cref="AuthOptions"/>).</summary>
public static class AuthSiloBuilderExtensions
{
    /// <summary>Requires a token from every outside client. The file is read now: <see cref="ArgumentException"/> naming
    /// <c>Qst:Auth:TokensFile</c> when it is missing or malformed.</summary>
    public static ISiloBuilder AddQstAuthentication(this ISiloBuilder builder, AuthOptions options)
    {
        TokensFile.Load(options.TokensFile ?? throw new ArgumentException("Qst:Auth:TokensFile: not set"));
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<TokenDirectory>();
        builder.AddIncomingGrainCallFilter<ClientAuthFilter>();
        return builder;
    }
}
