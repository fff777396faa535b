using System.Globalization;
using System.Text;

namespace QstOrleans.Data.Templates;

/// <summary>The value of a missing variable, key or attribute: renders as "", is falsy, and is not <c>defined</c>.</summary>
internal sealed class JinjaUndefined
{
    public static readonly JinjaUndefined Instance = new();
    private JinjaUndefined() { }
}

/// <summary>A <c>namespace(...)</c> object: the one mutable value templates have (<c>set ns.x = ...</c>).</summary>
internal sealed class JinjaNamespace : Dictionary<string, object?>
{
    public JinjaNamespace() : base(StringComparer.Ordinal) { }
}

/// <summary>A callable value (globals such as <c>range</c>, bound methods such as <c>str.strip</c>).</summary>
internal delegate object? JinjaCallable(IReadOnlyList<object?> args, IReadOnlyDictionary<string, object?> kwargs);

/// <summary>
/// Python semantics for template values. Values are: null (None), bool, long, double, string,
/// <see cref="List{T}"/> of values, <see cref="Dictionary{TKey,TValue}"/> string → value (insertion-ordered),
/// <see cref="JinjaUndefined"/>, <see cref="JinjaNamespace"/> and <see cref="JinjaCallable"/>.
/// </summary>
internal static class JinjaValues
{
    public static bool IsTrue(object? v) => v switch
    {
        null or JinjaUndefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        System.Collections.ICollection c => c.Count > 0,
        _ => true,
    };

    /// <summary>Python's str() of a value, as <c>{{ }}</c> prints it.</summary>
    public static string ToStr(object? v) => v switch
    {
        string s => s,
        JinjaUndefined => "",
        _ => Repr(v),
    };

    /// <summary>Python's repr(): strings quoted, lists and dicts in Python syntax.</summary>
    public static string Repr(object? v) => v switch
    {
        null => "None",
        JinjaUndefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FloatRepr(d),
        string s => QuoteRepr(s),
        JinjaNamespace ns => "<Namespace " + string.Join(", ", ns.Select(kv => kv.Key + "=" + Repr(kv.Value))) + ">",
        Dictionary<string, object?> d => "{" + string.Join(", ", d.Select(kv => QuoteRepr(kv.Key) + ": " + Repr(kv.Value))) + "}",
        List<object?> list => "[" + string.Join(", ", list.Select(Repr)) + "]",
        _ => v.ToString() ?? "",
    };

    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        string r = d.ToString("R", CultureInfo.InvariantCulture);
        if (r.Contains('E'))
        {
            // Python: 1e+20, 1.5e-07
            var parts = r.Split('E');
            int exp = int.Parse(parts[1], CultureInfo.InvariantCulture);
            r = parts[0] + "e" + (exp < 0 ? "-" : "+") + Math.Abs(exp).ToString("00", CultureInfo.InvariantCulture);
            return r;
        }
        return r.Contains('.') ? r : r + ".0";
    }

    private static string QuoteRepr(string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder().Append(quote);
        foreach (char c in s)
        {
            if (c == quote || c == '\\') sb.Append('\\').Append(c);
            else if (c == '\n') sb.Append("\\n");
            else if (c == '\r') sb.Append("\\r");
            else if (c == '\t') sb.Append("\\t");
            else if (c < 0x20 || c == 0x7F) sb.Append($"\\x{(int)c:x2}");
            else sb.Append(c);
        }
        return sb.Append(quote).ToString();
    }

    /// <summary>Python ==: numbers by value (True == 1), strings ordinal, lists and dicts element-wise.</summary>
    public static bool PyEquals(object? a, object? b)
    {
        if (a is JinjaUndefined || b is JinjaUndefined) return a is JinjaUndefined && b is JinjaUndefined;
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a) == ToDouble(b);
        return (a, b) switch
        {
            (null, null) => true,
            (null, _) or (_, null) => false,
            (string x, string y) => x == y,
            (List<object?> x, List<object?> y) => x.Count == y.Count && x.Zip(y).All(p => PyEquals(p.First, p.Second)),
            (Dictionary<string, object?> x, Dictionary<string, object?> y) =>
                x.Count == y.Count && x.All(kv => y.TryGetValue(kv.Key, out var o) && PyEquals(kv.Value, o)),
            _ => ReferenceEquals(a, b),
        };
    }

    /// <summary>Python ordering of numbers with numbers and strings with strings (ordinal); other pairs throw.</summary>
    public static int Compare(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a).CompareTo(ToDouble(b));
        if (a is string x && b is string y) return string.CompareOrdinal(x, y);
        throw new JinjaException($"'<' not supported between {TypeName(a)} and {TypeName(b)}");
    }

    public static bool IsNumber(object? v) => v is long or double or bool;

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new JinjaException($"expected a number, got {TypeName(v)}"),
    };

    public static long ToLong(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => throw new JinjaException($"expected an integer, got {TypeName(v)}"),
    };

    public static string TypeName(object? v) => v switch
    {
        null => "NoneType",
        JinjaUndefined => "Undefined",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        JinjaNamespace => "Namespace",
        Dictionary<string, object?> => "dict",
        List<object?> => "list",
        _ => v.GetType().Name,
    };

    /// <summary>The items a <c>for</c> loop or a filter iterates: list items, dict keys, string characters.</summary>
    public static List<object?> Iterate(object? v) => v switch
    {
        List<object?> list => list,
        Dictionary<string, object?> d => d.Keys.Cast<object?>().ToList(),
        string s => StringElements(s),
        JinjaUndefined => [],
        _ => throw new JinjaException($"'{TypeName(v)}' object is not iterable"),
    };

    public static List<object?> StringElements(string s)
    {
        var list = new List<object?>(s.Length);
        var e = StringInfoRunes(s);
        foreach (var r in e) list.Add(r);
        return list;
    }

    // Python indexes strings by code point, not UTF-16 unit.
    public static List<string> StringInfoRunes(string s) => s.EnumerateRunes().Select(r => r.ToString()).ToList();

    /// <summary>json.dumps(v, ensure_ascii=False, indent=indent), as transformers' tojson filter.</summary>
    public static string ToJson(object? v, int? indent, int level = 0)
    {
        string Pad(int l) => indent is int n ? "\n" + new string(' ', n * l) : "";
        string itemSep = indent is null ? ", " : ",";
        switch (v)
        {
            case null or JinjaUndefined: return "null";
            case bool b: return b ? "true" : "false";
            case long l: return l.ToString(CultureInfo.InvariantCulture);
            case double d: return double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : FloatRepr(d);
            case string s: return JsonString(s);
            case Dictionary<string, object?> d:
                if (d.Count == 0) return "{}";
                return "{" + string.Join(itemSep, d.Select(kv => Pad(level + 1) + JsonString(kv.Key) + ": " + ToJson(kv.Value, indent, level + 1))) + Pad(level) + "}";
            case List<object?> list:
                if (list.Count == 0) return "[]";
                return "[" + string.Join(itemSep, list.Select(x => Pad(level + 1) + ToJson(x, indent, level + 1))) + Pad(level) + "]";
            default: throw new JinjaException($"Object of type {TypeName(v)} is not JSON serializable");
        }
    }

    private static string JsonString(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append($"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
