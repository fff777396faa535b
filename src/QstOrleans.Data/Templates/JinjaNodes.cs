namespace QstOrleans.Data.Templates;

// The syntax tree of a template: statements (rendered in order) and expressions (evaluated to values).

internal abstract record JinjaNode;
internal sealed record TextNode(string Text) : JinjaNode;
internal sealed record OutputNode(JinjaExpr Value) : JinjaNode;
internal sealed record IfNode(IReadOnlyList<(JinjaExpr Condition, IReadOnlyList<JinjaNode> Body)> Branches, IReadOnlyList<JinjaNode> Else) : JinjaNode;
internal sealed record ForNode(IReadOnlyList<string> Targets, JinjaExpr Iterable, JinjaExpr? Filter, IReadOnlyList<JinjaNode> Body, IReadOnlyList<JinjaNode> Else) : JinjaNode;
/// <summary><c>set name = value</c>, or <c>set ns.attr = value</c> when <see cref="Attribute"/> is set.</summary>
internal sealed record SetNode(string Name, string? Attribute, JinjaExpr Value) : JinjaNode;
internal sealed record BreakNode : JinjaNode;
internal sealed record ContinueNode : JinjaNode;

internal abstract record JinjaExpr;
internal sealed record ConstExpr(object? Value) : JinjaExpr;
internal sealed record NameExpr(string Name) : JinjaExpr;
internal sealed record ListExpr(IReadOnlyList<JinjaExpr> Items) : JinjaExpr;
internal sealed record DictExpr(IReadOnlyList<(JinjaExpr Key, JinjaExpr Value)> Items) : JinjaExpr;
internal sealed record AttrExpr(JinjaExpr Target, string Name) : JinjaExpr;
internal sealed record ItemExpr(JinjaExpr Target, JinjaExpr Key) : JinjaExpr;
internal sealed record SliceExpr(JinjaExpr Target, JinjaExpr? Start, JinjaExpr? Stop, JinjaExpr? Step) : JinjaExpr;
internal sealed record CallExpr(JinjaExpr Target, IReadOnlyList<JinjaExpr> Args, IReadOnlyList<(string Name, JinjaExpr Value)> Kwargs) : JinjaExpr;
internal sealed record FilterExpr(JinjaExpr Target, string Name, IReadOnlyList<JinjaExpr> Args, IReadOnlyList<(string Name, JinjaExpr Value)> Kwargs) : JinjaExpr;
internal sealed record TestExpr(JinjaExpr Target, string Name, IReadOnlyList<JinjaExpr> Args, bool Negated) : JinjaExpr;
internal sealed record UnaryExpr(string Op, JinjaExpr Operand) : JinjaExpr;
internal sealed record BinaryExpr(string Op, JinjaExpr Left, JinjaExpr Right) : JinjaExpr;
/// <summary>A comparison chain <c>a &lt; b &lt; c</c> (Python semantics: every pair must hold).</summary>
internal sealed record CompareExpr(JinjaExpr First, IReadOnlyList<(string Op, JinjaExpr Right)> Rest) : JinjaExpr;
internal sealed record CondExpr(JinjaExpr Condition, JinjaExpr Then, JinjaExpr? Else) : JinjaExpr;
