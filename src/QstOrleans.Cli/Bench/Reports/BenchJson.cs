using System.Text.Json;
using System.Text.Json.Serialization;

namespace QstOrleans.Cli.Bench.Reports;

/// <summary>JSON for bench results (indented, camelCase, NaN written as "NaN").</summary>
public static class BenchJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string Serialize<T>(T value) => JsonSerializer.Serialize(value, Options);

    /// <exception cref="JsonException">The text is not a <typeparamref name="T"/>.</exception>
    public static T Deserialize<T>(string json) =>
        JsonSerializer.Deserialize<T>(json, Options) ?? throw new JsonException($"JSON 'null' is not a {typeof(T).Name}");
}
