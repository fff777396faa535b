namespace QstOrleans.Data.Templates;

/// <summary>An error in a template: a syntax error, an unsupported construct, or a template's own <c>raise_exception</c>.</summary>
public sealed class JinjaException : Exception
{
    public JinjaException(string message, bool raisedByTemplate = false) : base(message) => RaisedByTemplate = raisedByTemplate;

    /// <summary>True for <c>raise_exception(msg)</c>: the template refuses the input (e.g. roles not alternating).</summary>
    public bool RaisedByTemplate { get; }
}

/// <summary>
/// A Jinja template as HF chat templates are written, rendered the way transformers renders them (jinja2 with
/// trim_blocks, lstrip_blocks and loop controls, <c>raise_exception</c>, a JSON <c>tojson</c>). No Jinja engine is
/// served on NuGet here (Fluid and Scriban are Liquid), so this is a small interpreter of the subset real templates
/// use, checked against jinja2's own renderings (tests/QstOrleans.Tests/Templates/golden).
/// </summary>
/// <remarks>
/// Values passed in: string, bool, int/long, double, null, <see cref="IEnumerable{T}"/> of values (lists) and
/// <see cref="IReadOnlyDictionary{TKey,TValue}"/> string → value (dicts). Not supported (a clear
/// <see cref="JinjaException"/>): macros, blocks/extends/include, block <c>set</c>, <c>strftime_now</c> only as passed in.
/// </remarks>
public sealed class JinjaTemplate
{
    private readonly IReadOnlyList<JinjaNode> _nodes;

    private JinjaTemplate(IReadOnlyList<JinjaNode> nodes) => _nodes = nodes;

    /// <summary>Parses <paramref name="source"/>; throws <see cref="JinjaException"/> for a syntax error.</summary>
    public static JinjaTemplate Parse(string source) => new(JinjaParser.Parse(source));

    /// <summary>Renders with the given variables; throws <see cref="JinjaException"/> for a template error or <c>raise_exception</c>.</summary>
    public string Render(IReadOnlyDictionary<string, object?> variables) =>
        JinjaRuntime.Render(_nodes, variables.ToDictionary(kv => kv.Key, kv => Convert(kv.Value)));

    // Caller values into the runtime's Python-like model.
    private static object? Convert(object? v) => v switch
    {
        null or string or bool or long or double or JinjaCallable => v,
        int i => (long)i,
        float f => (double)f,
        Func<string, string> fn => (JinjaCallable)((a, _) => fn(JinjaValues.ToStr(a.Count > 0 ? a[0] : null))),
        IReadOnlyDictionary<string, object?> d => d.ToDictionary(kv => kv.Key, kv => Convert(kv.Value), StringComparer.Ordinal),
        IReadOnlyDictionary<string, string> d => d.ToDictionary(kv => kv.Key, kv => (object?)kv.Value, StringComparer.Ordinal),
        System.Collections.IEnumerable e => e.Cast<object?>().Select(Convert).ToList(),
        _ => throw new ArgumentException($"template variable of type {v.GetType().Name} is not supported"),
    };
}
