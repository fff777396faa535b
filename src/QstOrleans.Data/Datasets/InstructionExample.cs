namespace QstOrleans.Data.Datasets;

/// <summary>One instruction-tuning example: prompt text, response text, and where it came from (1-based line).</summary>
public sealed record InstructionExample(string Source, string Target, string File, int Line);

/// <summary>A raw Alpaca record (<c>instruction</c>, <c>input</c>, <c>output</c>).</summary>
public sealed record AlpacaRecord(string Instruction, string Input, string Output)
{
    public InstructionExample ToExample(string file, int line) =>
        new(AlpacaPrompt.Format(Instruction, Input), Output, file, line);
}

/// <summary>A record left out of a dataset, and why.</summary>
public sealed record DroppedRecord(string File, int Line, string Reason);

/// <summary>What a dataset load kept and dropped.</summary>
public sealed record AlpacaLoadResult(IReadOnlyList<InstructionExample> Examples, IReadOnlyList<DroppedRecord> Dropped)
{
    public int Kept => Examples.Count;

    /// <summary>One line for logs, e.g. "kept 998 of 1000 examples; dropped 2: field 'output' is empty (2)".</summary>
    public string Summary
    {
        get
        {
            int total = Examples.Count + Dropped.Count;
            if (Dropped.Count == 0) return $"kept {Kept} of {total} examples";
            var reasons = Dropped.GroupBy(d => d.Reason).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal)
                .Select(g => $"{g.Key} ({g.Count()})");
            return $"kept {Kept} of {total} examples; dropped {Dropped.Count}: {string.Join("; ", reasons)}";
        }
    }
}
