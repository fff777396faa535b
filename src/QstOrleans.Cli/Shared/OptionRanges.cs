namespace QstOrleans.Cli.Shared;

/// <summary>
/// Range checks on the options that are not training-config keys (those are checked by the config's validation):
/// a value out of range is a parse error naming the option ("--count must be >= 1, got 0"), so it exits 2 before anything runs.
/// </summary>
internal static class OptionRanges
{
    public static Option<int> AtLeast(this Option<int> option, int min)
    {
        option.Validators.Add(r =>
        {
            int value = r.GetValueOrDefault<int>();
            if (value < min) r.AddError($"{option.Name} must be >= {min}, got {value}");
        });
        return option;
    }

    /// <summary>Within [<paramref name="min"/>, <paramref name="max"/>]; an open end when <paramref name="minExclusive"/>.</summary>
    public static Option<double> Within(this Option<double> option, double min, double max, bool minExclusive = false)
    {
        option.Validators.Add(r =>
        {
            double value = r.GetValueOrDefault<double>();
            bool ok = (minExclusive ? value > min : value >= min) && value <= max;   // NaN fails both
            if (!ok)
                r.AddError(string.Create(CultureInfo.InvariantCulture,
                    $"{option.Name} must be {(minExclusive ? $"> {min}" : $">= {min}")}{(double.IsPositiveInfinity(max) ? "" : $" and <= {max}")}, got {value}"));
        });
        return option;
    }
}
