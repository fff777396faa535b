using System.Security.Cryptography;
using System.Text;
using QstOrleans.Grains.Persistence;
using QstOrleans.Storage.Blobs;

namespace QstOrleans.Tests.Persistence;

/// <summary>Blob names of grain states: escapes written out by hand, injectivity on tricky pairs, hashing of long keys.</summary>
public sealed class GrainStateBlobNamesTests
{
    [Theory]
    [InlineData("job-1", "job-1")]
    [InlineData("a.b", "a.b")]
    [InlineData(".hidden", "_2ehidden")]          // a leading '.' is reserved by the local store
    [InlineData("a_b", "a_5fb")]                  // the escape character escapes itself
    [InlineData("a/b c", "a_2fb_20c")]
    [InlineData("ä", "_c3_a4")]                   // UTF-8 bytes C3 A4
    [InlineData("", "_")]
    public void EscapesByHand(string segment, string expected) => Assert.Equal(expected, GrainStateBlobNames.Escape(segment));

    [Fact]
    public void DistinctKeysGetDistinctValidNames()
    {
        string[] keys = ["a_2fb", "a/b", "a_b", "a__b", "", "_", ".", "_2e", "x" + new string('y', 300), "x" + new string('y', 301)];
        var names = keys.Select(k => GrainStateBlobNames.For("svc", "job", "trainingjob", k)).ToList();
        Assert.Equal(keys.Length, names.Distinct().Count());
        foreach (var name in names) Assert.Equal(name, BlobNames.Validate(name));
    }

    [Fact]
    public void LongKeysAreCutAndSuffixedWithTheirSha256()
    {
        string key = new('k', 500);
        string escaped = GrainStateBlobNames.Escape(key);
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));
        Assert.Equal(GrainStateBlobNames.MaxSegmentLength, escaped.Length);
        Assert.EndsWith("_h" + hash, escaped);
        Assert.StartsWith("kkkk", escaped);
    }
}
