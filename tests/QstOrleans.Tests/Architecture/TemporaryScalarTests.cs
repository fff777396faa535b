using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Operations;

namespace QstOrleans.Tests.Architecture;

/// <summary>
/// A source analyzer, run as a test: no code on the training hot path may create a temporary TorchSharp
/// <c>Scalar</c>. TorchSharp 0.107 frees a Scalar in its finalizer and passes only the native handle to libtorch, so a
/// garbage collection during the call frees the scalar while libtorch reads it ("Expected false to be true … toFloat",
/// Scalar.h:140 — seen in the cluster as spurious recoveries; see <see cref="Optimizer.AdamWTests"/>). Temporaries come from
/// (1) an implicit conversion of a number to <c>Scalar</c> at a call (<c>pow(2)</c>, <c>masked_fill(m, v)</c>),
/// (2) a TorchSharp operator or overload that makes its own: <c>t * 0.5</c>, <c>1 - t</c>, <c>a + b</c> on tensors
/// (<c>add(b, 1)</c>), the one-argument <c>add</c>/<c>add_</c>, <c>addcdiv</c>/<c>addcmul</c> without a value,
/// (3) a <c>ToScalar()</c> nobody disposes. The fix: the static scalars and <c>Plus</c> of
/// <c>QstOrleans.Model.Tensors.Scalars</c> (static: never finalized), or a <c>using Scalar</c> local.
/// </summary>
public sealed class TemporaryScalarTests
{
    /// <summary>
    /// The projects whose code runs while training or serving: the whole engine (forward, backward, optimizer, NF4,
    /// evaluation, generation, checkpoints) and the grains (stages, side trainer). A temporary anywhere there can fire.
    /// </summary>
    static readonly string[] HotPath = ["src/QstOrleans.Model", "src/QstOrleans.Grains"];

    /// <summary>
    /// TorchSharp 0.107 methods whose short overloads pass a Scalar they create themselves (read off its IL: <c>add(t)</c> is
    /// <c>add(t, 1)</c>; <c>sub(t)</c> calls native code directly and is safe).
    /// </summary>
    static readonly Dictionary<string, int> DefaultingOverloads = new()
    {
        ["add"] = 1, ["add_"] = 1, ["addcdiv"] = 2, ["addcdiv_"] = 2, ["addcmul"] = 2, ["addcmul_"] = 2,
    };

    [Fact]
    public void TheHotPathCreatesNoTemporaryScalar()
    {
        var findings = Analyze(HotPath.SelectMany(dir => Directory.EnumerateFiles(Path.Combine(RepoRoot, dir), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}")).ToList());
        Assert.True(findings.Count == 0, $"{findings.Count} temporary Scalar(s) on the hot path:\n" + string.Join("\n", findings));
    }

    [Fact]
    public void TheAnalyzerFindsEachKindOfTemporary()
    {
        // The analyzer must see what it is meant to see, or the test above proves nothing.
        string probe = Path.Combine(Path.GetTempPath(), $"scalar-probe-{Guid.NewGuid():N}.cs");
        File.WriteAllText(probe, """
            using TorchSharp;
            using static TorchSharp.torch;
            static class Probe
            {
                static readonly Scalar Half = 0.5;
                static Tensor Bad(Tensor a, Tensor b)
                {
                    var c = a * 0.5;          // implicit conversion
                    var d = a + b;            // operator: add(b, 1)
                    var e = a.add(b);         // one-argument overload: add(b, 1)
                    var f = a.pow(2);         // implicit conversion
                    var g = a.mul(2.0.ToScalar());   // explicit, but nobody owns it
                    return c.addcdiv(d, e);   // no value
                }
                static Tensor Good(Tensor a, Tensor b)
                {
                    using Scalar one = 1;
                    var c = a * Half;
                    var d = a.add(b, one);
                    var e = a - b;            // sub(b): native, no scalar
                    return c.mul(d).addcdiv(a, e, one);
                }
            }
            """);
        try
        {
            var findings = Analyze([probe]);
            Assert.True(findings.Count == 6, $"expected 6 findings, got {findings.Count}:\n" + string.Join("\n", findings));
            Assert.All(findings, f => Assert.Contains("Bad", f));
        }
        finally
        {
            File.Delete(probe);
        }
    }

    static List<string> Analyze(IReadOnlyList<string> files)
    {
        var globalUsings = CSharpSyntaxTree.ParseText(
            "global using System; global using System.IO; global using System.Linq; global using System.Collections.Generic; " +
            "global using System.Threading; global using System.Threading.Tasks;");
        var trees = files.Select(f => CSharpSyntaxTree.ParseText(File.ReadAllText(f), path: f)).Prepend(globalUsings).ToList();
        var references = ((string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!).Split(Path.PathSeparator)
            .Concat(Directory.EnumerateFiles(AppContext.BaseDirectory, "*.dll"))
            .Where(p => !Path.GetFileName(p).StartsWith("QstOrleans.Tests", StringComparison.Ordinal))
            .DistinctBy(Path.GetFileName).Select(p => MetadataReference.CreateFromFile(p)).ToList();
        var compilation = CSharpCompilation.Create("HotPathScan", trees, references,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, allowUnsafe: true, nullableContextOptions: NullableContextOptions.Enable));
        var findings = new List<string>();
        foreach (var tree in trees.Skip(1))
        {
            var model = compilation.GetSemanticModel(tree);
            // Implicit conversions are not syntax nodes of their own: walk the operation trees of every body and initializer.
            var roots = tree.GetRoot().DescendantNodes().Where(n => n is BaseMethodDeclarationSyntax or AccessorDeclarationSyntax
                or PropertyDeclarationSyntax { ExpressionBody: not null } or VariableDeclaratorSyntax { Initializer: not null, Parent.Parent: FieldDeclarationSyntax });
            foreach (var operation in roots.Select(r => model.GetOperation(r)).OfType<IOperation>().SelectMany(o => o.DescendantsAndSelf()))
            {
                string? why = operation switch
                {
                    IConversionOperation { IsImplicit: true, Conversion.IsUserDefined: true } c when IsScalar(c.Type)
                        => $"implicit {c.Operand.Type?.Name} → Scalar",
                    IBinaryOperation { OperatorMethod: { } m } when IsTorch(m) && MakesItsOwnScalar(m)
                        => $"operator {m.Name}({string.Join(", ", m.Parameters.Select(p => p.Type.Name))}) (TorchSharp makes a temporary Scalar inside)",
                    IInvocationOperation { TargetMethod: { Name: "ToScalar" } m } when IsTorch(m) => "ToScalar() not owned by a using",
                    IInvocationOperation { TargetMethod: { } m } when IsTorch(m) && DefaultingOverloads.TryGetValue(m.Name, out int n)
                                                                      && m.Parameters.Length == n
                        => $"{m.Name} with {n} argument(s) (TorchSharp passes its own temporary Scalar)",
                    _ => null,
                };
                var node = operation.Syntax;
                // Static Scalar fields (alive for the process) and `using` locals (alive to the end of their scope) are the fix.
                if (why is null || IsStaticScalarInitializer(node, model) || IsUsingDeclaration(node) || IsScalarFieldAssignment(operation)) continue;
                var line = tree.GetLineSpan(node.Span).StartLinePosition.Line + 1;
                var member = node.AncestorsAndSelf().OfType<MemberDeclarationSyntax>().FirstOrDefault() is { } decl ? MemberName(decl) : "?";
                findings.Add($"{Path.GetRelativePath(RepoRoot, tree.FilePath)}:{line} in {member}: {why}: {node}");
            }
        }
        return findings.Distinct().ToList();
    }

    /// <summary>
    /// Operators that create a Scalar inside TorchSharp: every one with a number operand (<c>t * 0.5</c> is
    /// <c>t.mul(0.5.ToScalar())</c>, a temporary), every addition (<c>a + b</c> is <c>a.add(b)</c> = <c>add(b, 1)</c>), and
    /// <c>Scalar - Tensor</c> (<c>right.negative().add(left)</c>).
    /// </summary>
    static bool MakesItsOwnScalar(IMethodSymbol op) =>
        op.Parameters.Any(p => p.Type.SpecialType is SpecialType.System_Int32 or SpecialType.System_Int64 or SpecialType.System_Single or SpecialType.System_Double)
        || op.Name == "op_Addition"
        || (op.Name == "op_Subtraction" && IsScalar(op.Parameters[0].Type));

    static bool IsScalar(ITypeSymbol? type) => type is { Name: "Scalar" } && type.ContainingNamespace?.ToDisplayString() == "TorchSharp";
    static bool IsTorch(IMethodSymbol m) => m.ContainingNamespace?.ToDisplayString().StartsWith("TorchSharp", StringComparison.Ordinal) == true;

    static bool IsStaticScalarInitializer(SyntaxNode node, SemanticModel model) =>
        node.Ancestors().OfType<FieldDeclarationSyntax>().FirstOrDefault() is { } field
        && field.Modifiers.Any(SyntaxKind.StaticKeyword) && IsScalar(model.GetTypeInfo(field.Declaration.Type).Type);

    /// <summary><c>_eps = eps</c> into a Scalar field: the object owns it for its lifetime.</summary>
    static bool IsScalarFieldAssignment(IOperation operation) =>
        operation.Parent is ISimpleAssignmentOperation { Target: IFieldReferenceOperation field } && IsScalar(field.Type);

    static bool IsUsingDeclaration(SyntaxNode node) =>
        node.Ancestors().FirstOrDefault(a => a is StatementSyntax) switch
        {
            LocalDeclarationStatementSyntax local => local.UsingKeyword.IsKind(SyntaxKind.UsingKeyword),
            UsingStatementSyntax @using => @using.Declaration?.Span.Contains(node.Span) == true,
            _ => false,
        };

    static string MemberName(MemberDeclarationSyntax decl) => decl switch
    {
        MethodDeclarationSyntax m => m.Identifier.Text,
        ConstructorDeclarationSyntax c => c.Identifier.Text,
        PropertyDeclarationSyntax p => p.Identifier.Text,
        FieldDeclarationSyntax f => f.Declaration.Variables.First().Identifier.Text,
        _ => decl.Kind().ToString(),
    };

    static string RepoRoot { get; } = FindRepoRoot();

    static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "QstOrleans.sln"))) return dir.FullName;
        throw new InvalidOperationException($"QstOrleans.sln not found above {AppContext.BaseDirectory}");
    }
}
