namespace QstOrleans.Contracts.Security;

/// <summary>Who owns a job, for access checks made inside the cluster.</summary>
/// <param name="Exists">False when no job was ever submitted under the id.</param>
/// <param name="Owner">The verified user who submitted it; null when it was submitted without authentication.</param>
[GenerateSerializer, Immutable]
public sealed record JobOwnership([property: Id(0)] bool Exists, [property: Id(1)] string? Owner);
