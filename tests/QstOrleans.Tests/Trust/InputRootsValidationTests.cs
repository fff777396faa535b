using QstOrleans.Grains.Inputs;

namespace QstOrleans.Tests.Trust;

/// <summary>Bad <c>Qst:Roots</c> settings stop the silo at startup naming the key (the silo turns them into exit 2).</summary>
public sealed class InputRootsValidationTests
{
    [Fact]
    public void MissingRootsAndNonPositiveCapsNameTheirKey()
    {
        new InputRoots { Data = Path.GetTempPath() }.Validate("Qst:Roots");
        Assert.Contains("Qst:Roots:Models: '/no/such/root' is not a directory",
            Assert.Throws<ArgumentException>(() => new InputRoots { Models = "/no/such/root" }.Validate("Qst:Roots")).Message);
        Assert.Contains("Qst:Roots:MaxLineBytes: must be positive, got 0",
            Assert.Throws<ArgumentException>(() => new InputRoots { MaxLineBytes = 0 }.Validate("Qst:Roots")).Message);
    }
}
