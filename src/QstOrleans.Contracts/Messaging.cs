namespace QstOrleans.Contracts;

/// <summary>
/// Messaging limits shared by silos and clients so neither side rejects the other's messages. Lives in
/// Contracts because clients reference only this assembly.
/// </summary>
public static class Messaging
{
    /// <summary>Above the 16 MiB chunk size with room for headers; Orleans' default is 100 MiB.</summary>
    public const int DefaultMaxMessageBodyBytes = 128 << 20;
}
