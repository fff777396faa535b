namespace QstOrleans.Contracts.Grains;

/// <summary>
/// Marks a grain method of the pipeline's internal control plane (micro-batches, taps, fault reports, commits): called by
/// the cluster's own grains only. The silos refuse such a call when it comes from a client (an app, the CLI), so a client
/// cannot feed work, fake a fault or finish a job behind the job grain's back. The public contract is every other method.
/// </summary>
[AttributeUsage(AttributeTargets.Method, Inherited = true)]
public sealed class ControlPlaneAttribute : Attribute;
