using System.Text;
using System.Text.RegularExpressions;

namespace QstOrleans.Data.Tokenization.HfJson;

/// <summary>One pre-tokenizer of a <c>tokenizer.json</c>: splits a piece of normalized text into smaller pieces.</summary>
internal abstract record HfPreTokenizer
{
    /// <param name="sectionIndex">The index of the text's section among the added-token split (Metaspace "first").</param>
    public abstract IEnumerable<string> Split(string piece, int sectionIndex);

    /// <summary><c>Split</c> with behavior Isolated: the matches and the text between them, in order, none empty.</summary>
    public sealed record Isolated(Regex Pattern) : HfPreTokenizer
    {
        public override IEnumerable<string> Split(string piece, int sectionIndex)
        {
            int previous = 0;
            for (var m = Pattern.Match(piece); m.Success; m = m.NextMatch())
            {
                if (m.Index > previous) yield return piece[previous..m.Index];
                if (m.Length > 0) yield return m.Value;
                previous = m.Index + m.Length;
            }
            if (previous < piece.Length) yield return piece[previous..];
        }
    }

    /// <summary><c>ByteLevel</c>: optionally GPT-2's split, then every UTF-8 byte as its printable character.</summary>
    public sealed record ByteLevel(Regex? Pattern) : HfPreTokenizer
    {
        public override IEnumerable<string> Split(string piece, int sectionIndex)
        {
            if (Pattern is null)
            {
                yield return ByteLevelAlphabet.Encode(piece);
                yield break;
            }
            for (var m = Pattern.Match(piece); m.Success; m = m.NextMatch())
                if (m.Length > 0) yield return ByteLevelAlphabet.Encode(m.Value);
        }
    }

    /// <summary><c>Metaspace</c> (split: false): spaces become the replacement, which is prepended as the scheme says
    /// (always; first = only in the text's first section; never) unless the piece already starts with it.</summary>
    public sealed record Metaspace(string Replacement, string PrependScheme) : HfPreTokenizer
    {
        public override IEnumerable<string> Split(string piece, int sectionIndex)
        {
            string text = piece.Replace(" ", Replacement, StringComparison.Ordinal);
            if (!text.StartsWith(Replacement, StringComparison.Ordinal)
                && (PrependScheme == "always" || PrependScheme == "first" && sectionIndex == 0))
                text = Replacement + text;
            yield return text;
        }
    }
}

/// <summary>One normalizer of a <c>tokenizer.json</c> (applied to the text between added tokens).</summary>
internal abstract record HfNormalizer
{
    public abstract string Apply(string text);

    /// <summary>NFC or NFD through ADRaffy.ENSNormalize's Unicode tables: the project runs with InvariantGlobalization,
    /// where <see cref="string.Normalize()"/> has no ICU data and returns non-ASCII text unchanged.</summary>
    public sealed record Unicode(NormalizationForm Form) : HfNormalizer
    {
        public override string Apply(string text) =>
            System.Text.Ascii.IsValid(text) ? text
            : Form == NormalizationForm.FormC ? ADRaffy.ENSNormalize.ENSNormalize.NF.NFC(text)
            : ADRaffy.ENSNormalize.ENSNormalize.NF.NFD(text);
    }

    public sealed record Prepend(string Prefix) : HfNormalizer
    {
        public override string Apply(string text) => Prefix + text;
    }

    public sealed record Replace(Regex Pattern, string Content) : HfNormalizer
    {
        public override string Apply(string text) => Pattern.Replace(text, Content.Replace("$", "$$", StringComparison.Ordinal));
    }

    public sealed record Lowercase : HfNormalizer
    {
        public override string Apply(string text) => text.ToLowerInvariant();
    }

    public sealed record Strip(bool Left, bool Right) : HfNormalizer
    {
        public override string Apply(string text) => Left && Right ? text.Trim() : Left ? text.TrimStart() : Right ? text.TrimEnd() : text;
    }
}

/// <summary>One decoder of a <c>tokenizer.json</c>: rewrites the list of token strings (the last one joins them).</summary>
internal abstract record HfDecoder
{
    /// <param name="added">Added-token texts (ByteLevel leaves them as they are).</param>
    public abstract List<string> Apply(List<string> tokens, IReadOnlySet<string> added);

    /// <summary><c>ByteLevel</c>: runs of ordinary tokens back to bytes, then UTF-8 (invalid bytes become U+FFFD).</summary>
    public sealed record ByteLevel : HfDecoder
    {
        public override List<string> Apply(List<string> tokens, IReadOnlySet<string> added)
        {
            var output = new List<string>();
            var run = new StringBuilder();
            foreach (string t in tokens)
            {
                if (!added.Contains(t))
                {
                    run.Append(t);
                    continue;
                }
                if (run.Length > 0) output.Add(ByteLevelAlphabet.Decode(run.ToString()));
                run.Clear();
                output.Add(t);
            }
            if (run.Length > 0) output.Add(ByteLevelAlphabet.Decode(run.ToString()));
            return output;
        }
    }

    public sealed record Replace(string Pattern, string Content) : HfDecoder
    {
        public override List<string> Apply(List<string> tokens, IReadOnlySet<string> added) =>
            tokens.Select(t => t.Replace(Pattern, Content, StringComparison.Ordinal)).ToList();
    }

    /// <summary><c>ByteFallback</c>: runs of <c>&lt;0xXX&gt;</c> tokens become their UTF-8 text.</summary>
    public sealed record ByteFallback : HfDecoder
    {
        public override List<string> Apply(List<string> tokens, IReadOnlySet<string> added)
        {
            var output = new List<string>();
            var bytes = new List<byte>();
            foreach (string t in tokens)
            {
                if (t.Length == 6 && t.StartsWith("<0x", StringComparison.Ordinal) && t[5] == '>'
                    && byte.TryParse(t.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
                {
                    bytes.Add(b);
                    continue;
                }
                if (bytes.Count > 0) output.Add(Encoding.UTF8.GetString(bytes.ToArray()));
                bytes.Clear();
                output.Add(t);
            }
            if (bytes.Count > 0) output.Add(Encoding.UTF8.GetString(bytes.ToArray()));
            return output;
        }
    }

    public sealed record Fuse : HfDecoder
    {
        public override List<string> Apply(List<string> tokens, IReadOnlySet<string> added) => [string.Concat(tokens)];
    }

    /// <summary><c>Strip</c>: up to Start leading and Stop trailing copies of Content removed from every token.</summary>
    public sealed record Strip(char Content, int Start, int Stop) : HfDecoder
    {
        public override List<string> Apply(List<string> tokens, IReadOnlySet<string> added) => tokens.Select(t =>
        {
            int from = 0, to = t.Length;
            while (from < Start && from < t.Length && t[from] == Content) from++;
            while (t.Length - to < Stop && to > from && t[to - 1] == Content) to--;
            return t[from..to];
        }).ToList();
    }

    /// <summary><c>Metaspace</c>: the replacement becomes a space; the first token loses its leading space unless the scheme is never.</summary>
    public sealed record Metaspace(string Replacement, bool StripFirst) : HfDecoder
    {
        public override List<string> Apply(List<string> tokens, IReadOnlySet<string> added) => tokens.Select((t, i) =>
        {
            string s = t.Replace(Replacement, " ", StringComparison.Ordinal);
            return StripFirst && i == 0 && s.StartsWith(' ') ? s[1..] : s;
        }).ToList();
    }
}

/// <summary>GPT-2's table between bytes and printable characters (HF ByteLevel).</summary>
internal static class ByteLevelAlphabet
{
    private static readonly char[] ByteToChar = new char[256];
    private static readonly Dictionary<char, byte> CharToByte = new();

    static ByteLevelAlphabet()
    {
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= 33 and <= 126 or >= 161 and <= 172 or >= 174 and <= 255;
            ByteToChar[b] = printable ? (char)b : (char)(256 + extra++);
            CharToByte[ByteToChar[b]] = (byte)b;
        }
    }

    public static string Encode(string text)
    {
        byte[] bytes = Encoding.UTF8.GetBytes(text);
        return string.Create(bytes.Length, bytes, (span, source) =>
        {
            for (int i = 0; i < source.Length; i++) span[i] = ByteToChar[source[i]];
        });
    }

    /// <summary>Characters outside the table are dropped (they cannot come from a byte-level vocabulary).</summary>
    public static string Decode(string symbols)
    {
        var bytes = new List<byte>(symbols.Length);
        foreach (char c in symbols)
            if (CharToByte.TryGetValue(c, out byte b)) bytes.Add(b);
        return Encoding.UTF8.GetString(bytes.ToArray());
    }
}
