using System.Globalization;

namespace QstOrleans.Data.Templates;

/// <summary>
/// Recursive-descent parser for the Jinja subset chat templates use, with jinja2's precedence (lowest first):
/// inline <c>if/else</c>, <c>or</c>, <c>and</c>, <c>not</c>, comparisons (<c>== != &lt; &gt; &lt;= &gt;= in, not in</c>,
/// chained), <c>+ -</c>, <c>~</c>, <c>* / // %</c>, <c>**</c>, unary <c>-</c>, then postfix <c>.attr [key] [a:b:c] (call)</c>
/// and the filter/test chain (<c>| filter(args)</c>, <c>is [not] test</c>).
/// </summary>
/// <remarks>Statements: if/elif/else, for (with tuple targets, an <c>if</c> filter and <c>else</c>), set (names and
/// namespace attributes), break, continue, generation (rendered as its body). Anything else throws
/// <see cref="JinjaException"/> naming the tag and its position.</remarks>
internal sealed class JinjaParser
{
    private readonly List<JinjaToken> _tokens;
    private int _i;

    private JinjaParser(List<JinjaToken> tokens) => _tokens = tokens;

    public static IReadOnlyList<JinjaNode> Parse(string source)
    {
        // jinja2's default keep_trailing_newline=False: one trailing newline of the template is dropped.
        if (source.EndsWith('\n')) source = source[..^(source.EndsWith("\r\n", StringComparison.Ordinal) ? 2 : 1)];
        var parser = new JinjaParser(JinjaLexer.Tokenize(source));
        var body = parser.ParseBody(out string? end);
        if (end is not null) throw new JinjaException($"unexpected '{{% {end} %}}'");
        return body;
    }

    private JinjaToken Current => _tokens[_i];

    // Parses nodes until an end tag of an enclosing block (returned in endTag, its tokens consumed up to the name).
    private List<JinjaNode> ParseBody(out string? endTag, params string[] ends)
    {
        var nodes = new List<JinjaNode>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case JinjaTokenKind.End:
                    if (ends.Length > 0) throw new JinjaException($"missing {{% {ends[^1]} %}}");
                    endTag = null;
                    return nodes;
                case JinjaTokenKind.Text:
                    nodes.Add(new TextNode(t.Value));
                    _i++;
                    break;
                case JinjaTokenKind.VariableStart:
                    _i++;
                    nodes.Add(new OutputNode(ParseExpression()));
                    ExpectTagEnd();
                    break;
                default:
                    _i++; // BlockStart
                    var name = Expect(JinjaTokenKind.Name);
                    if (ends.Contains(name.Value))
                    {
                        endTag = name.Value;
                        return nodes;
                    }
                    nodes.Add(ParseStatement(name));
                    break;
            }
        }
    }

    private JinjaNode ParseStatement(JinjaToken name)
    {
        switch (name.Value)
        {
            case "if":
            {
                var branches = new List<(JinjaExpr, IReadOnlyList<JinjaNode>)>();
                var condition = ParseExpression();
                while (true)
                {
                    ExpectTagEnd();
                    var body = ParseBody(out string? end, "elif", "else", "endif");
                    branches.Add((condition, body));
                    if (end == "elif")
                    {
                        condition = ParseExpression();
                        continue;
                    }
                    List<JinjaNode> elseBody = [];
                    if (end == "else")
                    {
                        ExpectTagEnd();
                        elseBody = ParseBody(out _, "endif");
                    }
                    ExpectTagEnd();
                    return new IfNode(branches, elseBody);
                }
            }
            case "for":
            {
                var targets = new List<string> { Expect(JinjaTokenKind.Name).Value };
                while (AcceptOperator(",")) targets.Add(Expect(JinjaTokenKind.Name).Value);
                if (Expect(JinjaTokenKind.Name).Value != "in") throw Error("expected 'in' in for");
                var iterable = ParseOr(); // no inline if here: "if" introduces the loop filter
                JinjaExpr? filter = AcceptName("if") ? ParseExpression() : null;
                ExpectTagEnd();
                var body = ParseBody(out string? end, "else", "endfor");
                List<JinjaNode> elseBody = [];
                if (end == "else")
                {
                    ExpectTagEnd();
                    elseBody = ParseBody(out _, "endfor");
                }
                ExpectTagEnd();
                return new ForNode(targets, iterable, filter, body, elseBody);
            }
            case "set":
            {
                string target = Expect(JinjaTokenKind.Name).Value;
                string? attribute = AcceptOperator(".") ? Expect(JinjaTokenKind.Name).Value : null;
                if (!AcceptOperator("=")) throw Error("block {% set %} ... {% endset %} is not supported; use {% set x = ... %}");
                var value = ParseExpression();
                ExpectTagEnd();
                return new SetNode(target, attribute, value);
            }
            case "break":
                ExpectTagEnd();
                return new BreakNode();
            case "continue":
                ExpectTagEnd();
                return new ContinueNode();
            case "generation":
            {
                ExpectTagEnd();
                var body = ParseBody(out _, "endgeneration");
                ExpectTagEnd();
                return new IfNode([(new ConstExpr(true), body)], []);
            }
            default:
                throw new JinjaException($"unsupported tag '{{% {name.Value} %}}' at {name.Position}");
        }
    }

    public JinjaExpr ParseExpression()
    {
        var value = ParseOr();
        if (!AcceptName("if")) return value;
        var condition = ParseOr();
        JinjaExpr? otherwise = AcceptName("else") ? ParseExpression() : null;
        return new CondExpr(condition, value, otherwise);
    }

    private JinjaExpr ParseOr()
    {
        var left = ParseAnd();
        while (AcceptName("or")) left = new BinaryExpr("or", left, ParseAnd());
        return left;
    }

    private JinjaExpr ParseAnd()
    {
        var left = ParseNot();
        while (AcceptName("and")) left = new BinaryExpr("and", left, ParseNot());
        return left;
    }

    private JinjaExpr ParseNot() => AcceptName("not") ? new UnaryExpr("not", ParseNot()) : ParseCompare();

    private JinjaExpr ParseCompare()
    {
        var first = ParseAdd();
        var rest = new List<(string, JinjaExpr)>();
        while (true)
        {
            if (Current.Kind == JinjaTokenKind.Operator && Current.Value is "==" or "!=" or "<" or ">" or "<=" or ">=")
            {
                string op = Current.Value;
                _i++;
                rest.Add((op, ParseAdd()));
            }
            else if (AcceptName("in")) rest.Add(("in", ParseAdd()));
            else if (Current.Kind == JinjaTokenKind.Name && Current.Value == "not" && _tokens[_i + 1] is { Kind: JinjaTokenKind.Name, Value: "in" })
            {
                _i += 2;
                rest.Add(("notin", ParseAdd()));
            }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(first, rest);
    }

    private JinjaExpr ParseAdd()
    {
        var left = ParseConcat();
        while (Current.Kind == JinjaTokenKind.Operator && Current.Value is "+" or "-")
        {
            string op = Current.Value;
            _i++;
            left = new BinaryExpr(op, left, ParseConcat());
        }
        return left;
    }

    private JinjaExpr ParseConcat()
    {
        var left = ParseMul();
        while (AcceptOperator("~")) left = new BinaryExpr("~", left, ParseMul());
        return left;
    }

    private JinjaExpr ParseMul()
    {
        var left = ParsePow();
        while (Current.Kind == JinjaTokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            string op = Current.Value;
            _i++;
            left = new BinaryExpr(op, left, ParsePow());
        }
        return left;
    }

    private JinjaExpr ParsePow()
    {
        var left = ParseUnary();
        while (AcceptOperator("**")) left = new BinaryExpr("**", left, ParseUnary());
        return left;
    }

    private JinjaExpr ParseUnary()
    {
        if (AcceptOperator("-")) return ParseFilters(new UnaryExpr("-", ParseUnary()));
        if (AcceptOperator("+")) return ParseUnary();
        return ParseFilters(ParsePostfix(ParsePrimary()));
    }

    private JinjaExpr ParsePrimary()
    {
        var t = Current;
        _i++;
        switch (t.Kind)
        {
            case JinjaTokenKind.String:
            {
                string s = t.Value;
                while (Current.Kind == JinjaTokenKind.String) s += _tokens[_i++].Value; // adjacent literals join
                return new ConstExpr(s);
            }
            case JinjaTokenKind.Integer: return new ConstExpr(long.Parse(t.Value, CultureInfo.InvariantCulture));
            case JinjaTokenKind.Float: return new ConstExpr(double.Parse(t.Value, CultureInfo.InvariantCulture));
            case JinjaTokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new ConstExpr(true),
                    "false" or "False" => new ConstExpr(false),
                    "none" or "None" => new ConstExpr(null),
                    _ => new NameExpr(t.Value),
                };
            case JinjaTokenKind.Operator when t.Value == "(":
            {
                var inner = ParseExpression();
                if (AcceptOperator(","))
                {
                    var items = new List<JinjaExpr> { inner };
                    while (!AcceptOperator(")"))
                    {
                        items.Add(ParseExpression());
                        if (!AcceptOperator(",")) { ExpectOperator(")"); break; }
                    }
                    return new ListExpr(items);
                }
                ExpectOperator(")");
                return inner;
            }
            case JinjaTokenKind.Operator when t.Value == "[":
            {
                var items = new List<JinjaExpr>();
                while (!AcceptOperator("]"))
                {
                    items.Add(ParseExpression());
                    if (!AcceptOperator(",")) { ExpectOperator("]"); break; }
                }
                return new ListExpr(items);
            }
            case JinjaTokenKind.Operator when t.Value == "{":
            {
                var items = new List<(JinjaExpr, JinjaExpr)>();
                while (!AcceptOperator("}"))
                {
                    var key = ParseExpression();
                    ExpectOperator(":");
                    items.Add((key, ParseExpression()));
                    if (!AcceptOperator(",")) { ExpectOperator("}"); break; }
                }
                return new DictExpr(items);
            }
            default:
                _i--;
                throw Error($"unexpected '{(t.Kind == JinjaTokenKind.TagEnd ? "end of tag" : t.Value)}'");
        }
    }

    private JinjaExpr ParsePostfix(JinjaExpr target)
    {
        while (true)
        {
            if (AcceptOperator(".")) target = new AttrExpr(target, Expect(JinjaTokenKind.Name).Value);
            else if (AcceptOperator("[")) target = ParseSubscript(target);
            else if (AcceptOperator("(")) target = ParseCall(target);
            else return target;
        }
    }

    private JinjaExpr ParseSubscript(JinjaExpr target)
    {
        JinjaExpr? start = IsOperator(":") ? null : ParseExpression();
        if (AcceptOperator("]")) return new ItemExpr(target, start!);
        ExpectOperator(":");
        JinjaExpr? stop = IsOperator(":") || IsOperator("]") ? null : ParseExpression();
        JinjaExpr? step = null;
        if (AcceptOperator(":") && !IsOperator("]")) step = ParseExpression();
        ExpectOperator("]");
        return new SliceExpr(target, start, stop, step);
    }

    private CallExpr ParseCall(JinjaExpr target)
    {
        var (args, kwargs) = ParseArguments();
        return new CallExpr(target, args, kwargs);
    }

    // After "(": positional and keyword arguments up to ")".
    private (List<JinjaExpr>, List<(string, JinjaExpr)>) ParseArguments()
    {
        var args = new List<JinjaExpr>();
        var kwargs = new List<(string, JinjaExpr)>();
        while (!AcceptOperator(")"))
        {
            if (Current.Kind == JinjaTokenKind.Name && _tokens[_i + 1] is { Kind: JinjaTokenKind.Operator, Value: "=" })
            {
                string name = Current.Value;
                _i += 2;
                kwargs.Add((name, ParseExpression()));
            }
            else args.Add(ParseExpression());
            if (!AcceptOperator(",")) { ExpectOperator(")"); break; }
        }
        return (args, kwargs);
    }

    private JinjaExpr ParseFilters(JinjaExpr target)
    {
        while (true)
        {
            if (AcceptOperator("|"))
            {
                string name = Expect(JinjaTokenKind.Name).Value;
                var (args, kwargs) = AcceptOperator("(") ? ParseArguments() : ([], []);
                target = new FilterExpr(target, name, args, kwargs);
            }
            else if (AcceptName("is"))
            {
                bool negated = AcceptName("not");
                string name = Expect(JinjaTokenKind.Name).Value;
                List<JinjaExpr> args = [];
                if (AcceptOperator("(")) args = ParseArguments().Item1;
                else if (Current.Kind is JinjaTokenKind.String or JinjaTokenKind.Integer or JinjaTokenKind.Float
                         || Current.Kind == JinjaTokenKind.Name && Current.Value is not ("and" or "or" or "else" or "if" or "in" or "not" or "is"))
                    args = [ParsePostfix(ParsePrimary())];
                target = new TestExpr(target, name, args, negated);
            }
            else if (AcceptOperator("(")) target = ParseCall(target);
            else return target;
        }
    }

    private bool IsOperator(string op) => Current.Kind == JinjaTokenKind.Operator && Current.Value == op;

    private bool AcceptOperator(string op)
    {
        if (!IsOperator(op)) return false;
        _i++;
        return true;
    }

    private bool AcceptName(string name)
    {
        if (Current.Kind != JinjaTokenKind.Name || Current.Value != name) return false;
        _i++;
        return true;
    }

    private void ExpectOperator(string op)
    {
        if (!AcceptOperator(op)) throw Error($"expected '{op}'");
    }

    private JinjaToken Expect(JinjaTokenKind kind)
    {
        if (Current.Kind != kind) throw Error($"expected {kind.ToString().ToLowerInvariant()}");
        return _tokens[_i++];
    }

    private void ExpectTagEnd()
    {
        if (Current.Kind != JinjaTokenKind.TagEnd) throw Error("expected end of tag");
        _i++;
    }

    private JinjaException Error(string message) =>
        new($"{message} at {Current.Position}, found {(Current.Kind == JinjaTokenKind.TagEnd ? "end of tag" : $"'{Current.Value}'")}");
}
