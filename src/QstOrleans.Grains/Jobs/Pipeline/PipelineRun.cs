namespace QstOrleans.Grains.Jobs.Pipeline;

/// <summary>One pipeline attempt of a job: its number (the fencing token every message carries), its plan and its feeder.</summary>
public sealed record PipelineRun(int Attempt, JobPlan Plan, PipelineFeeder Feeder);
