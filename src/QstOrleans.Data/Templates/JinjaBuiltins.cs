using System.Globalization;
using System.Text;
using static QstOrleans.Data.Templates.JinjaValues;

namespace QstOrleans.Data.Templates;

/// <summary>
/// Operators, attribute/item access, filters, tests, globals and string/dict methods of the Jinja subset, with the
/// behaviour of jinja2 in transformers' sandbox (e.g. <c>d.role</c> reads key "role"; <c>'a' + 1</c> is an error).
/// </summary>
/// <remarks>Filters: trim, length/count, tojson(indent), upper, lower, capitalize, title, default/d, first, last, join,
/// string, list, reverse, sort, map(attribute=|filter), select/reject/selectattr/rejectattr, format, replace, items,
/// int, float, abs, safe, e/escape (no autoescape: identity). Tests: defined, undefined, none, string, number, integer,
/// float, boolean, true, false, mapping, iterable, sequence, callable, equalto/eq/==, ne/!=, odd, even, divisibleby,
/// in. Globals: raise_exception, range, namespace, strftime_now (fixed: see <see cref="JinjaTemplate"/>).
/// Unknown names throw <see cref="JinjaException"/>.</remarks>
internal static class JinjaBuiltins
{
    public static readonly IReadOnlyDictionary<string, object?> Globals = new Dictionary<string, object?>
    {
        ["raise_exception"] = (JinjaCallable)((a, _) => throw new JinjaException(a.Count > 0 ? ToStr(a[0]) : "raise_exception", raisedByTemplate: true)),
        ["range"] = (JinjaCallable)((a, _) =>
        {
            long start = a.Count > 1 ? ToLong(a[0]) : 0, stop = ToLong(a[a.Count > 1 ? 1 : 0]), step = a.Count > 2 ? ToLong(a[2]) : 1;
            if (step == 0) throw new JinjaException("range() arg 3 must not be zero");
            var list = new List<object?>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step) list.Add(i);
            return list;
        }),
        ["namespace"] = (JinjaCallable)((a, kw) =>
        {
            var ns = new JinjaNamespace();
            foreach (var arg in a)
                if (arg is Dictionary<string, object?> d) foreach (var (k, v) in d) ns[k] = v;
            foreach (var (k, v) in kw) ns[k] = v;
            return ns;
        }),
    };

    public static object? GetAttribute(object? target, string name)
    {
        switch (target)
        {
            case string s: return StringMethod(s, name);
            case JinjaNamespace ns: return ns.TryGetValue(name, out var nv) ? nv : JinjaUndefined.Instance;
            case Dictionary<string, object?> d:
                return DictMethod(d, name) ?? (d.TryGetValue(name, out var v) ? v : JinjaUndefined.Instance);
            default: return JinjaUndefined.Instance;
        }
    }

    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case Dictionary<string, object?> d when key is string k:
                return d.TryGetValue(k, out var v) ? v : (object?)DictMethod(d, k) ?? JinjaUndefined.Instance;
            case List<object?> list when key is long or bool:
            {
                long i = ToLong(key);
                if (i < 0) i += list.Count;
                return i >= 0 && i < list.Count ? list[(int)i] : JinjaUndefined.Instance;
            }
            case string s when key is long or bool:
            {
                var runes = StringInfoRunes(s);
                long i = ToLong(key);
                if (i < 0) i += runes.Count;
                return i >= 0 && i < runes.Count ? runes[(int)i] : JinjaUndefined.Instance;
            }
            case string s when key is string name: return StringMethod(s, name);
            default: return JinjaUndefined.Instance;
        }
    }

    /// <summary>Python slicing <c>x[start:stop:step]</c> of a list or string.</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        List<object?> items = target switch
        {
            List<object?> l => l,
            string s => StringElements(s),
            _ => throw new JinjaException($"'{TypeName(target)}' object is not subscriptable"),
        };
        int n = items.Count;
        long st = step is null ? 1 : ToLong(step);
        if (st == 0) throw new JinjaException("slice step cannot be zero");
        long Clamp(object? v, long dflt, long lo, long hi)
        {
            if (v is null) return dflt;
            long x = ToLong(v);
            if (x < 0) x += n;
            return Math.Clamp(x, lo, hi);
        }
        var result = new List<object?>();
        if (st > 0)
            for (long i = Clamp(start, 0, 0, n), end = Clamp(stop, n, 0, n); i < end; i += st) result.Add(items[(int)i]);
        else
            for (long i = Clamp(start, n - 1, -1, n - 1), end = Clamp(stop, -1, -1, n - 1); i > end; i += st) result.Add(items[(int)i]);
        return target is string ? string.Concat(result.Cast<string>()) : result;
    }

    public static object? Negate(object? v) => v switch
    {
        long l => (object)(-l),
        double d => -d,
        bool b => b ? -1L : 0L,
        _ => throw new JinjaException($"bad operand type for unary -: '{TypeName(v)}'"),
    };

    public static object? Binary(string op, object? a, object? b)
    {
        if (op == "~") return ToStr(a) + ToStr(b);
        if (op == "+")
        {
            if (a is string sa && b is string sb) return sa + sb;
            if (a is List<object?> la && b is List<object?> lb) return la.Concat(lb).ToList();
        }
        if (op == "*" && a is string rs && b is long count) return string.Concat(Enumerable.Repeat(rs, (int)Math.Max(0, count)));
        if (!IsNumber(a) || !IsNumber(b))
            throw new JinjaException($"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");
        bool ints = a is long or bool && b is long or bool;
        switch (op)
        {
            // (object) casts: a long/double conditional would otherwise be typed double.
            case "+": return ints ? (object)(ToLong(a) + ToLong(b)) : ToDouble(a) + ToDouble(b);
            case "-": return ints ? (object)(ToLong(a) - ToLong(b)) : ToDouble(a) - ToDouble(b);
            case "*": return ints ? (object)(ToLong(a) * ToLong(b)) : ToDouble(a) * ToDouble(b);
            case "/":
                if (ToDouble(b) == 0) throw new JinjaException("division by zero");
                return ToDouble(a) / ToDouble(b);
            case "//":
                if (ToDouble(b) == 0) throw new JinjaException("integer division or modulo by zero");
                return ints ? (object)(long)Math.Floor((double)ToLong(a) / ToLong(b)) : Math.Floor(ToDouble(a) / ToDouble(b));
            case "%":
                if (ToDouble(b) == 0) throw new JinjaException("integer division or modulo by zero");
                if (ints)
                {
                    long m = ToLong(a) % ToLong(b);
                    return m != 0 && (m < 0) != (ToLong(b) < 0) ? m + ToLong(b) : m; // Python: the sign of the divisor
                }
                double r = ToDouble(a) % ToDouble(b);
                return r != 0 && (r < 0) != (ToDouble(b) < 0) ? r + ToDouble(b) : r;
            case "**":
                return ints && ToLong(b) >= 0 ? (object)(long)Math.Pow(ToLong(a), ToLong(b)) : Math.Pow(ToDouble(a), ToDouble(b));
            default: throw new JinjaException($"unknown operator {op}");
        }
    }

    public static bool Compare(string op, object? a, object? b) => op switch
    {
        "==" => PyEquals(a, b),
        "!=" => !PyEquals(a, b),
        "<" => JinjaValues.Compare(a, b) < 0,
        ">" => JinjaValues.Compare(a, b) > 0,
        "<=" => JinjaValues.Compare(a, b) <= 0,
        ">=" => JinjaValues.Compare(a, b) >= 0,
        "in" => Contains(b, a),
        "notin" => !Contains(b, a),
        _ => throw new JinjaException($"unknown comparison {op}"),
    };

    private static bool Contains(object? container, object? item) => container switch
    {
        string s when item is string sub => s.Contains(sub, StringComparison.Ordinal),
        List<object?> list => list.Any(x => PyEquals(x, item)),
        Dictionary<string, object?> d => item is string k && d.ContainsKey(k),
        JinjaUndefined => throw new JinjaException("argument of type 'Undefined' is not iterable"),
        _ => throw new JinjaException($"argument of type '{TypeName(container)}' is not iterable"),
    };

    public static object? Filter(string name, object? v, IReadOnlyList<object?> a, IReadOnlyDictionary<string, object?> kw)
    {
        object? Arg(int i, string key, object? dflt = null) => i < a.Count ? a[i] : kw.TryGetValue(key, out var x) ? x : dflt;
        switch (name)
        {
            case "trim": return PyStrip(ToStr(v), Arg(0, "chars") as string, true, true);
            case "length" or "count": return (long)(v is string s ? StringInfoRunes(s).Count : v is System.Collections.ICollection c ? c.Count : 0);
            case "tojson": return ToJson(v, Arg(0, "indent") is { } ind ? (int)ToLong(ind) : null);
            case "upper": return ToStr(v).ToUpperInvariant();
            case "lower": return ToStr(v).ToLowerInvariant();
            case "capitalize": return Capitalize(ToStr(v));
            case "title": return Title(ToStr(v));
            case "default" or "d":
                return v is JinjaUndefined || IsTrue(Arg(1, "boolean", false)) && !IsTrue(v) ? Arg(0, "default_value", "") : v;
            case "first": return Iterate(v).FirstOrDefault(JinjaUndefined.Instance);
            case "last": return Iterate(v).LastOrDefault(JinjaUndefined.Instance);
            case "join":
            {
                var items = Iterate(v);
                if (Arg(1, "attribute") is string attr) items = items.Select(x => GetAttribute(x, attr)).ToList();
                return string.Join(ToStr(Arg(0, "d", "")), items.Select(ToStr));
            }
            case "string": return ToStr(v);
            case "list": return Iterate(v).ToList();
            case "reverse": return v is string rs ? string.Concat(StringInfoRunes(rs).AsEnumerable().Reverse()) : Iterate(v).AsEnumerable().Reverse().ToList();
            case "sort":
            {
                var items = Iterate(v).ToList();
                items.Sort(JinjaValues.Compare);
                if (IsTrue(Arg(0, "reverse", false))) items.Reverse();
                return items;
            }
            case "map":
                if (kw.TryGetValue("attribute", out var mapAttr)) return Iterate(v).Select(x => GetAttribute(x, ToStr(mapAttr))).ToList();
                return Iterate(v).Select(x => Filter(ToStr(a[0]), x, a.Skip(1).ToList(), new Dictionary<string, object?>())).ToList();
            case "select" or "reject":
                return Iterate(v).Where(x => (a.Count == 0 ? IsTrue(x) : Test(ToStr(a[0]), x, a.Skip(1).ToList())) == (name == "select")).ToList();
            case "selectattr" or "rejectattr":
                return Iterate(v).Where(x =>
                {
                    var field = GetAttribute(x, ToStr(a[0]));
                    bool ok = a.Count == 1 ? IsTrue(field) : Test(ToStr(a[1]), field, a.Skip(2).ToList());
                    return ok == (name == "selectattr");
                }).ToList();
            case "format": return PercentFormat(ToStr(v), a);
            case "replace": return ToStr(v).Replace(ToStr(a[0]), ToStr(a[1]), StringComparison.Ordinal);
            case "items": return v is Dictionary<string, object?> d ? d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList() : [];
            case "int": return v is string si ? (long.TryParse(si.Trim(), out long l) ? l : 0L) : IsNumber(v) ? ToLong(v) : 0L;
            case "float": return v is string sf ? (double.TryParse(sf.Trim(), CultureInfo.InvariantCulture, out double f) ? f : 0.0) : IsNumber(v) ? ToDouble(v) : 0.0;
            case "abs": return v is long al ? (object)Math.Abs(al) : Math.Abs(ToDouble(v));
            case "safe" or "e" or "escape": return v;
            default: throw new JinjaException($"no filter named '{name}'");
        }
    }

    public static bool Test(string name, object? v, IReadOnlyList<object?> a) => name switch
    {
        "defined" => v is not JinjaUndefined,
        "undefined" => v is JinjaUndefined,
        "none" => v is null,
        "string" => v is string,
        "number" => v is long or double,
        "integer" => v is long,
        "float" => v is double,
        "boolean" => v is bool,
        "true" => v is true,
        "false" => v is false,
        "mapping" => v is Dictionary<string, object?>,
        "iterable" => v is string or List<object?> or Dictionary<string, object?>,
        "sequence" => v is string or List<object?> or Dictionary<string, object?>,
        "callable" => v is JinjaCallable,
        "equalto" or "eq" or "==" => PyEquals(v, a[0]),
        "ne" or "!=" => !PyEquals(v, a[0]),
        "odd" => ToLong(v) % 2 != 0,
        "even" => ToLong(v) % 2 == 0,
        "divisibleby" => ToLong(v) % ToLong(a[0]) == 0,
        "in" => Contains(a[0], v),
        _ => throw new JinjaException($"no test named '{name}'"),
    };

    private static JinjaCallable? DictMethod(Dictionary<string, object?> d, string name) => name switch
    {
        "items" => (_, _) => d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
        "keys" => (_, _) => d.Keys.Cast<object?>().ToList(),
        "values" => (_, _) => d.Values.ToList(),
        "get" => (a, _) => a[0] is string k && d.TryGetValue(k, out var v) ? v : a.Count > 1 ? a[1] : null,
        _ => null,
    };

    private static object? StringMethod(string s, string name) => name switch
    {
        "strip" => (JinjaCallable)((a, _) => PyStrip(s, a.Count > 0 ? a[0] as string : null, true, true)),
        "lstrip" => (JinjaCallable)((a, _) => PyStrip(s, a.Count > 0 ? a[0] as string : null, true, false)),
        "rstrip" => (JinjaCallable)((a, _) => PyStrip(s, a.Count > 0 ? a[0] as string : null, false, true)),
        "upper" => (JinjaCallable)((_, _) => s.ToUpperInvariant()),
        "lower" => (JinjaCallable)((_, _) => s.ToLowerInvariant()),
        "title" => (JinjaCallable)((_, _) => Title(s)),
        "capitalize" => (JinjaCallable)((_, _) => Capitalize(s)),
        "startswith" => (JinjaCallable)((a, _) => a[0] is List<object?> l ? l.Any(p => s.StartsWith(ToStr(p), StringComparison.Ordinal)) : s.StartsWith(ToStr(a[0]), StringComparison.Ordinal)),
        "endswith" => (JinjaCallable)((a, _) => a[0] is List<object?> l ? l.Any(p => s.EndsWith(ToStr(p), StringComparison.Ordinal)) : s.EndsWith(ToStr(a[0]), StringComparison.Ordinal)),
        "replace" => (JinjaCallable)((a, _) => s.Replace(ToStr(a[0]), ToStr(a[1]), StringComparison.Ordinal)),
        "split" => (JinjaCallable)((a, _) => Split(s, a.Count > 0 ? a[0] as string : null)),
        "join" => (JinjaCallable)((a, _) => string.Join(s, Iterate(a[0]).Select(ToStr))),
        _ => JinjaUndefined.Instance,
    };

    private static List<object?> Split(string s, string? sep) => sep is null
        ? s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Cast<object?>().ToList()
        : s.Split(sep).Cast<object?>().ToList();

    // Python's str.strip: whitespace is str.isspace (which, unlike char.IsWhiteSpace, includes \x1c-\x1f).
    private static string PyStrip(string s, string? chars, bool left, bool right)
    {
        bool Strip(char c) => chars is null ? char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f' : chars.Contains(c);
        int start = 0, end = s.Length;
        if (left) while (start < end && Strip(s[start])) start++;
        if (right) while (end > start && Strip(s[end - 1])) end--;
        return s[start..end];
    }

    private static string Capitalize(string s) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    // Python's str.title: a letter after a non-letter starts a word.
    private static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool prevLetter = false;
        foreach (char c in s)
        {
            sb.Append(prevLetter ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            prevLetter = char.IsLetter(c);
        }
        return sb.ToString();
    }

    // printf-style "%s %d %%" as Python's str % tuple.
    private static string PercentFormat(string format, IReadOnlyList<object?> args)
    {
        var sb = new StringBuilder();
        int next = 0;
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                sb.Append(format[i]);
                continue;
            }
            char spec = format[++i];
            if (spec == '%') sb.Append('%');
            else if (next >= args.Count) throw new JinjaException("not enough arguments for format string");
            else if (spec == 'd') sb.Append(ToLong(args[next++]).ToString(CultureInfo.InvariantCulture));
            else if (spec == 'r') sb.Append(Repr(args[next++]));
            else sb.Append(ToStr(args[next++]));
        }
        return sb.ToString();
    }
}
