using System.Text.Json;
using Parquet.Schema;
using Parquet.Serialization;
using QstOrleans.Data.Datasets;

namespace QstOrleans.Tests.DataScale;

/// <summary>
/// The generator of the committed Parquet fixtures (DataScale/fixtures): each record shape written twice, as Parquet
/// (with Parquet.Net, in several row groups) and as the JSONL a user would write for the same records.
/// Regenerate with <c>QST_WRITE_FIXTURES=1 dotnet test --filter ParquetFixtureTests</c> (pyarrow is not on these machines).
/// </summary>
internal static class ParquetFixtures
{
    public static readonly string[] Kinds = ["alpaca", "text", "chat"];

    /// <summary>The committed fixture folder in the source tree (found from the test binary upwards).</summary>
    public static string SourceFolder
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "QstOrleans.sln")))
                    return Path.Combine(dir.FullName, "tests", "QstOrleans.Tests", "DataScale", "fixtures");
            throw new DirectoryNotFoundException($"no QstOrleans.sln above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>Rows of one shape as column name → value (a chat's messages as a list of {role, content}).</summary>
    public static List<Dictionary<string, object>> Rows(string kind)
    {
        var alpaca = SyntheticDatasets.Generate(60, 21);
        return kind switch
        {
            "alpaca" => alpaca.Select((r, i) => new Dictionary<string, object>
            {
                ["instruction"] = i % 7 == 3 ? r.Instruction + " — naïve café ✓" : r.Instruction, ["input"] = r.Input, ["output"] = r.Output,
            }).ToList(),
            "text" => alpaca.Select(r => new Dictionary<string, object> { ["text"] = $"{r.Instruction}\n{r.Input} = {r.Output}" }).ToList(),
            "chat" => alpaca.Select((r, i) => new Dictionary<string, object>
            {
                ["messages"] = (i % 3 == 0 ? new[] { Message("system", "You add and sort.") } : [])
                    .Concat([Message("user", $"{r.Instruction} {r.Input}"), Message("assistant", r.Output)]).Select(m => (IDictionary<string, object>)m).ToList(),
            }).ToList(),
            _ => throw new ArgumentException($"unknown fixture kind '{kind}'"),
        };
    }

    static Dictionary<string, object> Message(string role, string content) => new() { ["role"] = role, ["content"] = content };

    static ParquetSchema Schema(string kind) => kind switch
    {
        "alpaca" => new(new DataField<string>("instruction"), new DataField<string>("input"), new DataField<string>("output")),
        "text" => new(new DataField<string>("text")),
        _ => new(new ListField("messages", new StructField("element", new DataField<string>("role"), new DataField<string>("content")))),
    };

    /// <summary>Writes KIND.parquet (row groups of 16 rows) and KIND.jsonl into <paramref name="folder"/>.</summary>
    public static void Write(string folder, string kind, List<Dictionary<string, object>>? rows = null)
    {
        rows ??= Rows(kind);
        Directory.CreateDirectory(folder);
        string parquet = Path.Combine(folder, kind + ".parquet");
        File.Delete(parquet);
        for (int start = 0; start < rows.Count; start += 16)
        {
            var group = rows.Skip(start).Take(16).Select(r => (IDictionary<string, object>)r).ToList();
            using var stream = new FileStream(parquet, start == 0 ? FileMode.Create : FileMode.Open, FileAccess.ReadWrite);
            ParquetSerializer.SerializeUntypedAsync(group, Schema(kind), stream, new Parquet.ParquetOptions { Append = start > 0 })
                .GetAwaiter().GetResult();
        }
        File.WriteAllLines(Path.Combine(folder, kind + ".jsonl"), rows.Select(r => JsonSerializer.Serialize(r)));
    }
}
