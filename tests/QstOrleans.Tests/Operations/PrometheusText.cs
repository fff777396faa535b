using System.Globalization;
using System.Text.RegularExpressions;

namespace QstOrleans.Tests.Operations;

/// <summary>Reads samples out of a Prometheus text exposition (what <c>/metrics</c> serves), for assertions.</summary>
internal static partial class PrometheusText
{
    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})? (?<value>\S+)", RegexOptions.Multiline)]
    private static partial Regex Sample();

    /// <summary>Every sample of <paramref name="metric"/> whose labels contain all of <paramref name="labels"/> (<c>job="x"</c>).</summary>
    public static IReadOnlyList<double> Values(string text, string metric, params string[] labels) =>
        Sample().Matches(text)
            .Where(m => m.Groups["name"].Value == metric && labels.All(l => m.Groups["labels"].Value.Contains(l, StringComparison.Ordinal)))
            .Select(m => double.Parse(m.Groups["value"].Value, CultureInfo.InvariantCulture))
            .ToList();

    /// <summary>The sum of <see cref="Values"/> (0 when the series does not exist yet).</summary>
    public static double Sum(string text, string metric, params string[] labels) => Values(text, metric, labels).Sum();
}
