using System.Text.Json;
using QstOrleans.Model.SafeTensors;
using TorchSharp;
using static TorchSharp.torch;

namespace QstOrleans.Tests.SafeTensors;

public sealed class CheckpointTests
{
    private static void WriteIndex(string dir, string json) =>
        File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), json);

    /// <summary>Two hand-made shards and a hand-made index.</summary>
    private static TestDirectory HandShardedCheckpoint()
    {
        var dir = new TestDirectory();
        HandMade.Write(dir.File("model-00001-of-00002.safetensors"),
            "{\"__metadata__\":{\"format\":\"pt\"},\"model.embed_tokens.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]}}",
            HandMade.F32(1f, 2f, 3f, 4f));
        HandMade.Write(dir.File("model-00002-of-00002.safetensors"),
            "{\"lm_head.weight\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]},"
            + "\"model.norm.weight\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[4,12]}}",
            HandMade.Concat(HandMade.U16(HandMade.Bf16Bits(1.5f), HandMade.Bf16Bits(-2f)), HandMade.I64(77)));
        WriteIndex(dir.Path, """
            {"metadata": {"total_size": 28},
             "weight_map": {"model.embed_tokens.weight": "model-00001-of-00002.safetensors",
                            "lm_head.weight": "model-00002-of-00002.safetensors",
                            "model.norm.weight": "model-00002-of-00002.safetensors"}}
            """);
        return dir;
    }

    [Fact]
    public void ReadsHandMadeShardedCheckpointLazily()
    {
        using var dir = HandShardedCheckpoint();
        using var ckpt = CheckpointReader.Open(dir.Path);
        Assert.Equal(new[] { "lm_head.weight", "model.embed_tokens.weight", "model.norm.weight" }, ckpt.TensorNames);
        Assert.Equal(28L, ckpt.TotalSize);
        Assert.Equal(2, ckpt.ShardFiles.Count);
        Assert.Empty(ckpt.OpenedShards); // nothing opened before the first read

        using var lm = ckpt.ReadTensor("lm_head.weight");
        Assert.Equal(new[] { 1.5f, -2f }, lm.to_type(ScalarType.Float32).data<float>().ToArray());
        Assert.Equal(new[] { dir.File("model-00002-of-00002.safetensors") }, ckpt.OpenedShards);

        using var norm = ckpt.ReadTensor("model.norm.weight");
        Assert.Equal(77L, norm.item<long>());
        Assert.Equal(dir.File("model-00001-of-00002.safetensors"), ckpt.FileOf("model.embed_tokens.weight"));
        Assert.Equal(new long[] { 2, 2 }, ckpt.Info("model.embed_tokens.weight").Shape);
        using var emb = ckpt.ReadTensor("model.embed_tokens.weight");
        Assert.Equal(new[] { 1f, 2f, 3f, 4f }, emb.data<float>().ToArray());
        Assert.True(ckpt.Contains("model.norm.weight"));
        Assert.False(ckpt.Contains("model.layers.0.self_attn.q_proj.weight"));

        var ex = Assert.Throws<SafeTensorsFormatException>(() => ckpt.ReadTensor("model.layers.0.self_attn.q_proj.weight"));
        Assert.Equal("model.layers.0.self_attn.q_proj.weight", ex.TensorName);
        Assert.Contains("model.safetensors.index.json", ex.Message);
    }

    [Fact]
    public void SingleFileCheckpoint()
    {
        using var dir = new TestDirectory();
        HandMade.Write(dir.File("model.safetensors"),
            "{\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]}}", HandMade.I32(5, -6));
        using var ckpt = CheckpointReader.Open(dir.Path);
        Assert.Null(ckpt.IndexPath);
        Assert.Equal(new[] { "a" }, ckpt.TensorNames);
        using var a = ckpt.ReadTensor("a");
        Assert.Equal(new[] { 5, -6 }, a.data<int>().ToArray());
        var ex = Assert.Throws<SafeTensorsFormatException>(() => ckpt.Info("b"));
        Assert.Contains("model.safetensors", ex.Message);
        Assert.Equal("b", ex.TensorName);
    }

    [Fact]
    public void MissingShardIsReportedAtOpen()
    {
        using var dir = HandShardedCheckpoint();
        File.Delete(dir.File("model-00002-of-00002.safetensors"));
        var ex = Assert.Throws<SafeTensorsFormatException>(() => CheckpointReader.Open(dir.Path));
        Assert.Contains("model.safetensors.index.json", ex.Message);
        Assert.Contains("model-00002-of-00002.safetensors", ex.Message);
        Assert.NotNull(ex.TensorName);
    }

    [Fact]
    public void ShardLackingAnIndexedTensor()
    {
        using var dir = HandShardedCheckpoint();
        WriteIndex(dir.Path, "{\"weight_map\":{\"ghost\":\"model-00001-of-00002.safetensors\"}}");
        using var ckpt = CheckpointReader.Open(dir.Path);
        var ex = Assert.Throws<SafeTensorsFormatException>(() => ckpt.ReadTensor("ghost"));
        Assert.Equal("ghost", ex.TensorName);
        Assert.Contains("model-00001-of-00002.safetensors", ex.Message);
    }

    [Theory]
    [InlineData("{oops", "not valid JSON", false)]
    [InlineData("{\"metadata\":{}}", "weight_map", false)]
    [InlineData("{\"weight_map\":{\"w\":3}}", "file name", true)]
    [InlineData("{\"weight_map\":{\"w\":\"../x.safetensors\"}}", "plain file name", true)]
    public void BadIndex(string json, string fragment, bool namesTensor)
    {
        using var dir = new TestDirectory();
        WriteIndex(dir.Path, json);
        var ex = Assert.Throws<SafeTensorsFormatException>(() => CheckpointReader.Open(dir.Path));
        Assert.Contains("model.safetensors.index.json", ex.Message);
        Assert.Contains(fragment, ex.Message);
        Assert.Equal(namesTensor ? "w" : null, ex.TensorName);
    }

    [Fact]
    public void EmptyDirectory()
    {
        using var dir = new TestDirectory();
        var ex = Assert.Throws<SafeTensorsFormatException>(() => CheckpointReader.Open(dir.Path));
        Assert.Contains(dir.Path, ex.Message);
    }

    [Fact]
    public void ShardedWriteSplitsBySizeAndReadsBack()
    {
        using var dir = new TestDirectory();
        using var scope = NewDisposeScope();
        // Bytes: a=16, b=24, c=8, d=40, e=4. Greedy with max 40 in name order:
        // [a,b]=40 | [c]=8 (+d would be 48) | [d]=40 | [e]=4  -> 4 shards.
        var tensors = new List<(string, Tensor)>
        {
            ("d", arange(10, dtype: ScalarType.Float32)),
            ("a", tensor(new long[] { 1, 2 })),
            ("c", tensor(new[] { 1.5, 2.5 }).reshape(2, 1).to_type(ScalarType.BFloat16).reshape(2, 1).repeat(2, 1)),
            ("b", tensor(new[] { 1, 2, 3, 4, 5, 6 })),
            ("e", tensor(7f)),
        };
        var written = ShardedCheckpointWriter.Write(dir.Path, tensors, maxShardBytes: 40,
            metadata: new Dictionary<string, string> { ["format"] = "pt" });

        string[] shardNames = Enumerable.Range(1, 4).Select(k => $"model-0000{k}-of-00004.safetensors").ToArray();
        Assert.Equal(shardNames.Select(dir.File).Append(dir.File("model.safetensors.index.json")), written);
        Assert.False(File.Exists(dir.File("model.safetensors")));

        using (var doc = JsonDocument.Parse(File.ReadAllText(dir.File("model.safetensors.index.json"))))
        {
            Assert.Equal(16 + 24 + 8 + 40 + 4, doc.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
            var map = doc.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
            Assert.Equal(new Dictionary<string, string?>
            {
                ["a"] = shardNames[0], ["b"] = shardNames[0], ["c"] = shardNames[1], ["d"] = shardNames[2], ["e"] = shardNames[3],
            }, map);
        }

        using var ckpt = CheckpointReader.Open(dir.Path);
        Assert.Equal(new[] { 1L, 2 }, ckpt.ReadTensor("a").data<long>().ToArray());
        Assert.Equal(new[] { 1, 2, 3, 4, 5, 6 }, ckpt.ReadTensor("b").data<int>().ToArray());
        Assert.Equal(new[] { 1.5f, 2.5f, 1.5f, 2.5f }, ckpt.ReadTensor("c").to_type(ScalarType.Float32).data<float>().ToArray());
        Assert.Equal(Enumerable.Range(0, 10).Select(i => (float)i), ckpt.ReadTensor("d").data<float>().ToArray());
        Assert.Equal(7f, ckpt.ReadTensor("e").item<float>());
        using var shard1 = SafeTensorsFile.Open(dir.File(shardNames[0]));
        Assert.Equal("pt", shard1.Metadata["format"]);
    }

    [Fact]
    public void EverythingInOneShardWritesModelSafetensorsAndDropsStaleIndex()
    {
        using var dir = HandShardedCheckpoint(); // leaves an index that would otherwise win
        using var scope = NewDisposeScope();
        var written = ShardedCheckpointWriter.Write(dir.Path,
            new[] { ("x", tensor(new[] { 3f, 4f })), ("y", tensor(new byte[] { 9 })) }, maxShardBytes: 1 << 20);
        Assert.Equal(new[] { dir.File("model.safetensors") }, written);
        Assert.False(File.Exists(dir.File("model.safetensors.index.json")));
        using var ckpt = CheckpointReader.Open(dir.Path);
        Assert.Equal(new[] { "x", "y" }, ckpt.TensorNames);
        Assert.Equal(new[] { 3f, 4f }, ckpt.ReadTensor("x").data<float>().ToArray());
    }

    [Fact]
    public void WriterRejectsBadArguments()
    {
        using var dir = new TestDirectory();
        using var scope = NewDisposeScope();
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            ShardedCheckpointWriter.Write(dir.Path, new[] { ("x", tensor(1f)) }, maxShardBytes: 0));
        Assert.Throws<ArgumentException>(() =>
            ShardedCheckpointWriter.Write(dir.Path, new[] { ("x", tensor(1f)), ("x", tensor(2f)) }, maxShardBytes: 100));
    }

    [Theory]
    [InlineData(new long[] { 5, 5, 5 }, 10, new[] { 2, 1 })]
    [InlineData(new long[] { 50, 1, 1 }, 10, new[] { 1, 2 })]   // oversize tensor gets its own shard
    [InlineData(new long[] { 1, 50, 1 }, 10, new[] { 1, 1, 1 })]
    [InlineData(new long[] { 0, 0 }, 1, new[] { 2 })]
    public void PlanIsGreedy(long[] sizes, long max, int[] counts)
    {
        Assert.Equal(counts, ShardedCheckpointWriter.Plan(sizes, max).Select(s => s.Count).ToArray());
    }
}
