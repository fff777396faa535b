namespace QstOrleans.Contracts.Wire;

/// <summary>What a backbone stage grain loads: layers [First, End) of a model, in a weight format, and the attention kernel
/// its forward runs (<c>precision.attention</c>; recompute and eager run the same forward without a graph).</summary>
[GenerateSerializer, Immutable]
public sealed record StageSpec(
    [property: Id(0)] string ModelDirectory,
    [property: Id(1)] int First,
    [property: Id(2)] int End,
    [property: Id(3)] string BackboneFormat,
    [property: Id(4)] bool DoubleQuant,
    [property: Id(5)] string Dtype,
    [property: Id(6)] string Attention = "recompute");

/// <summary>A stage's counters, for utilisation and the time split.</summary>
[GenerateSerializer, Immutable]
public sealed record StageStatus(
    [property: Id(0)] string Key,
    [property: Id(1)] string Slot,
    [property: Id(2)] string Silo,
    [property: Id(3)] long Processed,
    [property: Id(4)] double ComputeSeconds,
    [property: Id(5)] double SendSeconds,
    [property: Id(6)] double WaitSeconds,
    [property: Id(7)] double AliveSeconds,
    [property: Id(8)] long BytesSent);

/// <summary>A device slot a silo offers (e.g. cpu:0, cuda:1) and its memory.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceSlot(
    [property: Id(0)] string Id,
    [property: Id(1)] string Silo,
    [property: Id(2)] string Device,
    [property: Id(3)] double MemoryGiB);
