namespace QstOrleans.Contracts.Wire;

/// <summary>What a side-trainer grain builds: the side network, optimizer and schedule of one job.</summary>
[GenerateSerializer, Immutable]
public sealed record SideSpec(
    [property: Id(0)] string JobId,
    [property: Id(1)] JobSpec Job,
    [property: Id(2)] int TotalSteps,
    [property: Id(3)] int TapCount);

/// <summary>The side trainer's counters.</summary>
[GenerateSerializer, Immutable]
public sealed record SideStatus(
    [property: Id(0)] long Applied,
    [property: Id(1)] int Steps,
    [property: Id(2)] double ComputeSeconds,
    [property: Id(3)] double WaitSeconds,
    [property: Id(4)] double AliveSeconds,
    [property: Id(5)] string Silo);
