namespace QstOrleans.Tests.Trust;

/// <summary>Job ids are grain, storage and folder keys: a safe character set and length, or a clear refusal.</summary>
public sealed class JobIdsTests
{
    [Theory]
    [InlineData("train-20261203-101010-abcd")]
    [InlineData("local-0123456789ab-2")]
    [InlineData("a.b_c-D9")]
    public void SafeIdsPass(string id) => Assert.Null(JobIds.Problem(id));

    [Theory]
    [InlineData("", "must not be empty")]
    [InlineData("bad\nid", "may hold only letters, digits")]
    [InlineData("../escape", "must not start with '.'")]
    [InlineData("a/b", "may hold only letters, digits")]
    [InlineData("spaced id", "may hold only letters, digits")]
    [InlineData("ünicode", "may hold only letters, digits")]
    public void UnsafeIdsAreRefused(string id, string expected)
    {
        string? problem = JobIds.Problem(id);
        Assert.NotNull(problem);
        Assert.Contains(expected, problem);
        Assert.DoesNotContain("\n", problem);   // a control character never reaches a log line
    }

    [Fact]
    public void IdsOverTheLengthLimitAreRefused()
    {
        Assert.Null(JobIds.Problem(new string('a', JobIds.MaxLength)));
        Assert.Contains("101 characters long, more than 100", JobIds.Problem(new string('a', JobIds.MaxLength + 1)));
    }
}
