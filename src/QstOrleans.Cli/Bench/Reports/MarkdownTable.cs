using System.Text;

namespace QstOrleans.Cli.Bench.Reports;

/// <summary>A GitHub Markdown table; cells are escaped (<c>|</c> → <c>\|</c>, newlines → spaces).</summary>
public static class MarkdownTable
{
    /// <exception cref="ArgumentException">A row's cell count differs from the header's.</exception>
    public static string Render(IReadOnlyList<string> headers, IEnumerable<IReadOnlyList<string>> rows, IReadOnlyList<bool>? rightAlign = null)
    {
        var sb = new StringBuilder();
        sb.Append("| ").AppendJoin(" | ", headers.Select(Escape)).Append(" |\n");
        sb.Append('|').AppendJoin("|", headers.Select((_, i) => rightAlign is not null && rightAlign[i] ? "---:" : "---")).Append("|\n");
        int index = 0;
        foreach (var row in rows)
        {
            if (row.Count != headers.Count)
                throw new ArgumentException($"row {index} has {row.Count} cells, the header {headers.Count}", nameof(rows));
            sb.Append("| ").AppendJoin(" | ", row.Select(Escape)).Append(" |\n");
            index++;
        }
        return sb.ToString();
    }

    static string Escape(string cell) => cell.Replace("|", "\\|").Replace("\r", "").Replace("\n", " ");

    /// <summary>Bytes as MiB with no decimals (invariant culture).</summary>
    public static string MiB(double bytes) => (bytes / (1 << 20)).ToString("F0", CultureInfo.InvariantCulture);

    /// <summary>Bytes as decimal GB (the paper's unit) with one decimal.</summary>
    public static string Gb(double bytes) => (bytes / 1e9).ToString("F1", CultureInfo.InvariantCulture);

    /// <summary>A number with the given decimals, "–" for NaN.</summary>
    public static string Num(double value, int decimals) =>
        double.IsNaN(value) ? "–" : value.ToString("F" + decimals, CultureInfo.InvariantCulture);
}
