using System.Text;
using static QstOrleans.Data.Templates.JinjaValues;

namespace QstOrleans.Data.Templates;

/// <summary>
/// Renders a parsed template: statements write to the output, expressions evaluate with Python semantics
/// (<see cref="JinjaValues"/>), filters, tests, globals and methods come from <see cref="JinjaBuiltins"/>.
/// </summary>
/// <remarks>Scoping as jinja2: a <c>for</c> body runs in its own scope per iteration, so <c>set</c> inside a loop
/// does not leak out (templates use <c>namespace()</c> for that); <c>if</c> bodies share the enclosing scope.</remarks>
internal sealed class JinjaRuntime
{
    private sealed class Scope(Scope? parent)
    {
        public readonly Dictionary<string, object?> Vars = new(StringComparer.Ordinal);
        public readonly Scope? Parent = parent;

        public bool TryGet(string name, out object? value)
        {
            for (var s = this; s is not null; s = s.Parent)
                if (s.Vars.TryGetValue(name, out value)) return true;
            value = null;
            return false;
        }
    }

    private sealed class LoopSignal(bool isBreak) : Exception
    {
        public bool IsBreak { get; } = isBreak;
    }

    private readonly StringBuilder _out = new();

    public static string Render(IReadOnlyList<JinjaNode> nodes, IReadOnlyDictionary<string, object?> variables)
    {
        var runtime = new JinjaRuntime();
        var globals = new Scope(null);
        foreach (var (k, v) in JinjaBuiltins.Globals) globals.Vars[k] = v;
        var top = new Scope(globals);
        foreach (var (k, v) in variables) top.Vars[k] = v;
        runtime.Execute(nodes, top);
        return runtime._out.ToString();
    }

    private void Execute(IReadOnlyList<JinjaNode> nodes, Scope scope)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case TextNode t: _out.Append(t.Text); break;
                case OutputNode o: _out.Append(ToStr(Eval(o.Value, scope))); break;
                case IfNode i:
                {
                    var branch = i.Branches.FirstOrDefault(b => IsTrue(Eval(b.Condition, scope)));
                    Execute(branch.Body ?? i.Else, scope);
                    break;
                }
                case ForNode f: ExecuteFor(f, scope); break;
                case SetNode s: Assign(s, scope); break;
                case BreakNode: throw new LoopSignal(true);
                case ContinueNode: throw new LoopSignal(false);
            }
        }
    }

    private void ExecuteFor(ForNode f, Scope scope)
    {
        var source = Eval(f.Iterable, scope);
        var items = source is Dictionary<string, object?> d && f.Targets.Count == 2
            ? d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList()
            : Iterate(source);
        if (f.Filter is not null)
            items = items.Where(item => IsTrue(Eval(f.Filter, Bind(f.Targets, item, new Scope(scope))))).ToList();
        if (items.Count == 0)
        {
            Execute(f.Else, scope);
            return;
        }
        for (int i = 0; i < items.Count; i++)
        {
            var inner = Bind(f.Targets, items[i], new Scope(scope));
            inner.Vars["loop"] = new Dictionary<string, object?>(StringComparer.Ordinal)
            {
                ["index"] = (long)(i + 1), ["index0"] = (long)i,
                ["revindex"] = (long)(items.Count - i), ["revindex0"] = (long)(items.Count - i - 1),
                ["first"] = i == 0, ["last"] = i == items.Count - 1, ["length"] = (long)items.Count,
                ["previtem"] = i > 0 ? items[i - 1] : JinjaUndefined.Instance,
                ["nextitem"] = i + 1 < items.Count ? items[i + 1] : JinjaUndefined.Instance,
            };
            try
            {
                Execute(f.Body, inner);
            }
            catch (LoopSignal signal)
            {
                if (signal.IsBreak) break;
            }
        }
    }

    private static Scope Bind(IReadOnlyList<string> targets, object? item, Scope scope)
    {
        if (targets.Count == 1)
        {
            scope.Vars[targets[0]] = item;
            return scope;
        }
        var parts = Iterate(item);
        if (parts.Count != targets.Count) throw new JinjaException($"cannot unpack {parts.Count} values into {targets.Count} loop variables");
        for (int i = 0; i < targets.Count; i++) scope.Vars[targets[i]] = parts[i];
        return scope;
    }

    private void Assign(SetNode s, Scope scope)
    {
        var value = Eval(s.Value, scope);
        if (s.Attribute is null)
        {
            scope.Vars[s.Name] = value;
            return;
        }
        if (!scope.TryGet(s.Name, out var target) || target is not JinjaNamespace ns)
            throw new JinjaException($"set {s.Name}.{s.Attribute}: '{s.Name}' is not a namespace()");
        ns[s.Attribute] = value;
    }

    private object? Eval(JinjaExpr expr, Scope scope)
    {
        switch (expr)
        {
            case ConstExpr c: return c.Value;
            case NameExpr n: return scope.TryGet(n.Name, out var v) ? v : JinjaUndefined.Instance;
            case ListExpr l: return l.Items.Select(i => Eval(i, scope)).ToList();
            case DictExpr d:
            {
                var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var (k, val) in d.Items) dict[ToStr(Eval(k, scope))] = Eval(val, scope);
                return dict;
            }
            case AttrExpr a: return JinjaBuiltins.GetAttribute(Eval(a.Target, scope), a.Name);
            case ItemExpr i: return JinjaBuiltins.GetItem(Eval(i.Target, scope), Eval(i.Key, scope));
            case SliceExpr s:
                return JinjaBuiltins.Slice(Eval(s.Target, scope), s.Start is null ? null : Eval(s.Start, scope),
                    s.Stop is null ? null : Eval(s.Stop, scope), s.Step is null ? null : Eval(s.Step, scope));
            case CallExpr call:
            {
                var target = Eval(call.Target, scope);
                if (target is not JinjaCallable fn) throw new JinjaException($"'{TypeName(target)}' object is not callable");
                return fn(call.Args.Select(x => Eval(x, scope)).ToList(), call.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value, scope)));
            }
            case FilterExpr f:
                return JinjaBuiltins.Filter(f.Name, Eval(f.Target, scope), f.Args.Select(x => Eval(x, scope)).ToList(),
                    f.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value, scope)));
            case TestExpr t:
            {
                bool result = JinjaBuiltins.Test(t.Name, Eval(t.Target, scope), t.Args.Select(x => Eval(x, scope)).ToList());
                return t.Negated ? !result : result;
            }
            case UnaryExpr u:
                return u.Op == "not" ? !IsTrue(Eval(u.Operand, scope)) : JinjaBuiltins.Negate(Eval(u.Operand, scope));
            case BinaryExpr b when b.Op == "and":
            {
                var left = Eval(b.Left, scope);
                return IsTrue(left) ? Eval(b.Right, scope) : left;
            }
            case BinaryExpr b when b.Op == "or":
            {
                var left = Eval(b.Left, scope);
                return IsTrue(left) ? left : Eval(b.Right, scope);
            }
            case BinaryExpr b: return JinjaBuiltins.Binary(b.Op, Eval(b.Left, scope), Eval(b.Right, scope));
            case CompareExpr c:
            {
                var left = Eval(c.First, scope);
                foreach (var (op, rightExpr) in c.Rest)
                {
                    var right = Eval(rightExpr, scope);
                    if (!JinjaBuiltins.Compare(op, left, right)) return false;
                    left = right;
                }
                return true;
            }
            case CondExpr c:
                return IsTrue(Eval(c.Condition, scope)) ? Eval(c.Then, scope) : c.Else is null ? JinjaUndefined.Instance : Eval(c.Else, scope);
            default:
                throw new JinjaException($"cannot evaluate {expr.GetType().Name}");
        }
    }
}
