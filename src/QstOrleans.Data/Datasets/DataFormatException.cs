namespace QstOrleans.Data.Datasets;

/// <summary>A bad record in a data file; the message reads <c>file:line: problem</c>. (InvalidDataException is sealed, hence FormatException.)</summary>
public sealed class DataFormatException : FormatException
{
    public DataFormatException(string file, int line, string problem, Exception? inner = null)
        : base($"{file}:{line}: {problem}", inner)
    {
        File = file;
        Line = line;
        Problem = problem;
    }

    public string File { get; }
    /// <summary>1-based line number.</summary>
    public int Line { get; }
    public string Problem { get; }
}
