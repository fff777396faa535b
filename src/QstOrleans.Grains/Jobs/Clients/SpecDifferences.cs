using System.Text.Json;
using System.Text.Json.Nodes;

namespace QstOrleans.Grains.Jobs.Clients;

/// <summary>
/// The fields in which two job specs differ, as <c>Config.Schedule.Epochs: 4 → 8</c> lines, for the refusal of a submit
/// that reuses a job id with another spec. Compares the specs' JSON (what <see cref="JobSpecHash"/> hashes), so every
/// serialized field counts, nested records included, and nothing else does.
/// </summary>
public static class SpecDifferences
{
    /// <summary>Differing fields of <paramref name="existing"/> and <paramref name="submitted"/>, in declaration order; empty when equal.</summary>
    public static IReadOnlyList<string> Between(JobSpec existing, JobSpec submitted)
    {
        var differences = new List<string>();
        Compare("", JsonSerializer.SerializeToNode(existing), JsonSerializer.SerializeToNode(submitted), differences);
        return differences;
    }

    static void Compare(string path, JsonNode? a, JsonNode? b, List<string> differences)
    {
        if (a is JsonObject oa && b is JsonObject ob)
        {
            foreach (var name in oa.Select(p => p.Key).Concat(ob.Select(p => p.Key).Where(k => !oa.ContainsKey(k))))
                Compare(path.Length == 0 ? name : $"{path}.{name}", oa[name], ob[name], differences);
            return;
        }
        if (JsonNode.DeepEquals(a, b)) return;
        differences.Add($"{path}: {Show(a)} → {Show(b)}");
    }

    static string Show(JsonNode? node) => node is null ? "(none)" : node.ToJsonString();
}
