using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace QstOrleans.Configuration;

/// <summary>
/// Reads and writes <see cref="TrainingConfig"/> as JSON: snake_case keys (<c>{"optimizer": {"learning_rate": 1e-4}}</c>),
/// every key optional (absent = the default), unknown keys refused with the key and the file named, comments and
/// trailing commas allowed. Command-line overrides are applied on top of the file, key by key, before the record is
/// built, so a run's config is always file, then options, then validated once.
/// </summary>
public static partial class TrainingConfigFile
{
    static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
        WriteIndented = true,
    };

    /// <summary>The config as indented JSON with every key.</summary>
    public static string Serialize(TrainingConfig config) => JsonSerializer.Serialize(config, Json);

    /// <summary>The defaults as a JSON tree (the CLI reads option defaults for its help text from it).</summary>
    public static JsonObject DefaultsTree() => JsonSerializer.SerializeToNode(TrainingConfig.Defaults, Json)!.AsObject();

    /// <summary>The value of <paramref name="key"/> (e.g. <c>optimizer.learning_rate</c>) in <paramref name="config"/>.</summary>
    public static JsonNode? Value(TrainingConfig config, string key)
    {
        JsonNode? node = JsonSerializer.SerializeToNode(config, Json);
        foreach (var part in key.Split('.')) node = node?[part];
        return node;
    }

    /// <summary>
    /// Builds a config from an optional file plus overrides (key → JSON value), then validates it.
    /// </summary>
    /// <param name="file">A JSON config file, or null for the defaults.</param>
    /// <param name="overrides">Keys such as <c>optimizer.learning_rate</c>; they win over the file.</param>
    /// <exception cref="ArgumentException">An unreadable file, an unknown key, a value of the wrong type or an invalid
    /// value; the message names the file (when there is one) and the key.</exception>
    public static TrainingConfig Load(string? file, IEnumerable<KeyValuePair<string, JsonNode?>>? overrides = null)
    {
        JsonObject root;
        if (file is null) root = new JsonObject();
        else
        {
            if (!File.Exists(file)) throw new ArgumentException($"--config: file '{file}' does not exist");
            try
            {
                root = JsonNode.Parse(File.ReadAllText(file), documentOptions: new JsonDocumentOptions
                    { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true }) as JsonObject
                       ?? throw new ArgumentException($"{file}: a training config must be a JSON object");
            }
            catch (JsonException e)
            {
                throw new ArgumentException($"{file}: not valid JSON (line {e.LineNumber + 1}): {e.Message}", e);
            }
        }
        foreach (var (key, value) in overrides ?? [])
            Set(root, key, value);
        return Parse(root, file ?? "the command line");
    }

    /// <summary>Parses a config from JSON text (e.g. a checkpoint's <c>config.json</c>); <paramref name="source"/> names it in errors.</summary>
    public static TrainingConfig Parse(string json, string source)
    {
        try
        {
            return Parse(JsonNode.Parse(json) as JsonObject ?? throw new ArgumentException($"{source}: a training config must be a JSON object"), source);
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{source}: not valid JSON: {e.Message}", e);
        }
    }

    static TrainingConfig Parse(JsonObject root, string source)
    {
        TrainingConfig config;
        try
        {
            config = root.Deserialize<TrainingConfig>(Json) ?? throw new ArgumentException($"{source}: empty training config");
        }
        catch (JsonException e)
        {
            throw new ArgumentException($"{source}: {Describe(e)}", e);
        }
        foreach (var property in typeof(TrainingConfig).GetProperties().Where(p => p.CanWrite))
            if (property.GetValue(config) is null)
                throw new ArgumentException($"{source}: key '{JsonNamingPolicy.SnakeCaseLower.ConvertName(property.Name)}' must be an object, not null");
        try
        {
            return config.Validate();
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{source}: {e.Message}", e);
        }
    }

    /// <summary>Turns System.Text.Json's message into one naming the key.</summary>
    static string Describe(JsonException e)
    {
        string path = (e.Path ?? "$").TrimStart('$').TrimStart('.');
        var unmapped = UnmappedProperty().Match(e.Message);
        if (unmapped.Success)
        {
            string key = path.Length == 0 || path.EndsWith(unmapped.Groups[1].Value, StringComparison.Ordinal)
                ? path.Length == 0 ? unmapped.Groups[1].Value : path
                : $"{path}.{unmapped.Groups[1].Value}";
            return $"unknown key '{key}'";
        }
        return $"key '{path}': {e.Message.Split(" Path:")[0]}";
    }

    static void Set(JsonObject root, string key, JsonNode? value)
    {
        var parts = key.Split('.');
        var node = root;
        foreach (var part in parts[..^1])
        {
            if (node[part] is not JsonObject child)
            {
                child = new JsonObject();
                node[part] = child;
            }
            node = child;
        }
        node[parts[^1]] = value?.DeepClone();
    }

    [GeneratedRegex("The JSON property '([^']+)' could not be mapped")]
    private static partial Regex UnmappedProperty();
}
