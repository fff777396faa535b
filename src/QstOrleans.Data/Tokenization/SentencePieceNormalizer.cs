using System.Buffers.Binary;
using System.Text;

namespace QstOrleans.Data.Tokenization;

/// <summary>
/// SentencePiece's normalizer (normalizer.cc), byte for byte: the model's precompiled character map (NFKC and
/// friends, longest match first), then its whitespace rules.
/// </summary>
/// <remarks>
/// <para>Order, as in sentencepiece: user-defined symbols are copied unnormalized (longest match); otherwise the
/// longest rule of the compiled map applies; otherwise one UTF-8 character is kept. With
/// <c>remove_extra_whitespaces</c> leading spaces are dropped, runs of spaces collapse to one and trailing ones are
/// removed; <c>add_dummy_prefix</c> puts one '▁' in front (behind with <c>treat_whitespace_as_suffix</c>);
/// <c>escape_whitespaces</c> writes ' ' as '▁' (U+2581).</para>
/// <para>The charsmap blob is a little-endian uint32 trie size, a Darts-clone double array of that many bytes
/// (32-bit units), then the replacement strings, each NUL-terminated; the trie's value is the offset of one.</para>
/// Throws <see cref="InvalidDataException"/> naming the model file for a malformed charsmap.
/// </remarks>
internal sealed class SentencePieceNormalizer
{
    private static readonly byte[] SpaceSymbol = "\u2581"u8.ToArray();
    private const int MaxTrieResults = 32; // sentencepiece keeps the first 32 prefix matches only

    private readonly uint[] _trie;
    private readonly byte[] _replacements;
    private readonly byte[][] _userDefined;
    private readonly bool _addDummyPrefix, _removeExtraWhitespaces, _escapeWhitespaces, _whitespaceAsSuffix;

    public SentencePieceNormalizer(SentencePieceModel model)
    {
        (_trie, _replacements) = DecodeCharsMap(model.PrecompiledCharsMap, model.File);
        _userDefined = model.Pieces.Where(p => p.Type == SentencePieceType.UserDefined)
            .Select(p => Encoding.UTF8.GetBytes(p.Piece)).ToArray();
        _addDummyPrefix = model.AddDummyPrefix;
        _removeExtraWhitespaces = model.RemoveExtraWhitespaces;
        _escapeWhitespaces = model.EscapeWhitespaces;
        _whitespaceAsSuffix = model.TreatWhitespaceAsSuffix;
    }

    /// <summary>The normalized text that the model segments ('▁' for spaces when escaping).</summary>
    public string Normalize(string text)
    {
        if (_trie.Length == 0 && _userDefined.Length == 0 && !_removeExtraWhitespaces) return NormalizeIdentity(text);
        ReadOnlySpan<byte> input = Encoding.UTF8.GetBytes(text);
        var output = new List<byte>(input.Length + 16);
        if (_removeExtraWhitespaces)
        {
            while (!input.IsEmpty)
            {
                var replacement = NormalizePrefix(input, out int consumed);
                if (!replacement.SequenceEqual(" "u8)) break;
                input = input[consumed..];
            }
        }
        if (input.IsEmpty) return "";

        if (!_whitespaceAsSuffix && _addDummyPrefix) AddSpace(output);
        bool isPrevSpace = _removeExtraWhitespaces;
        while (!input.IsEmpty)
        {
            var piece = NormalizePrefix(input, out int consumed);
            // A piece that starts with spaces right after a space loses them (runs collapse to one).
            while (isPrevSpace && !piece.IsEmpty && piece[0] == (byte)' ') piece = piece[1..];
            if (!piece.IsEmpty)
            {
                foreach (byte b in piece)
                {
                    if (_escapeWhitespaces && b == (byte)' ') output.AddRange(SpaceSymbol);
                    else output.Add(b);
                }
                isPrevSpace = piece[^1] == (byte)' ';
            }
            input = input[consumed..];
            if (!_removeExtraWhitespaces) isPrevSpace = false;
        }
        if (_removeExtraWhitespaces)
        {
            ReadOnlySpan<byte> space = _escapeWhitespaces ? SpaceSymbol : " "u8;
            while (output.Count >= space.Length && EndsWith(output, space)) output.RemoveRange(output.Count - space.Length, space.Length);
        }
        if (_whitespaceAsSuffix && _addDummyPrefix) AddSpace(output);
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output));
    }

    // Identity rules, whitespace kept (Llama-2's settings): the same result as the byte loop without the UTF-8 round
    // trip. A lone surrogate becomes U+FFFD, as Encoding.UTF8 does there.
    private string NormalizeIdentity(string text)
    {
        if (text.Length == 0) return "";
        string space = _escapeWhitespaces ? "\u2581" : " ";
        if (!text.AsSpan().ContainsAnyInRange('\uD800', '\uDFFF'))              // no surrogate: a vectorized replace does it
        {
            string body = _escapeWhitespaces ? text.Replace(' ', '\u2581') : text;
            return !_addDummyPrefix ? body : _whitespaceAsSuffix ? body + space : space + body;
        }
        var sb = new StringBuilder(text.Length + 1);
        if (!_whitespaceAsSuffix && _addDummyPrefix) sb.Append(space);
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (c == ' ') sb.Append(space);
            else if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) sb.Append(c).Append(text[++i]);
            else if (char.IsSurrogate(c)) sb.Append('\uFFFD');
            else sb.Append(c);
        }
        if (_whitespaceAsSuffix && _addDummyPrefix) sb.Append(space);
        return sb.ToString();
    }

    private void AddSpace(List<byte> output)
    {
        if (_escapeWhitespaces) output.AddRange(SpaceSymbol);
        else output.Add((byte)' ');
    }

    private static bool EndsWith(List<byte> output, ReadOnlySpan<byte> suffix) =>
        System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output)[^suffix.Length..].SequenceEqual(suffix);

    /// <summary>The replacement of the longest rule matching the start of <paramref name="input"/>; <paramref name="consumed"/> = the bytes it replaces.</summary>
    private ReadOnlySpan<byte> NormalizePrefix(ReadOnlySpan<byte> input, out int consumed)
    {
        int user = 0;
        foreach (var symbol in _userDefined)
            if (symbol.Length > user && input.StartsWith(symbol)) user = symbol.Length;
        if (user > 0)
        {
            consumed = user;
            return input[..user];
        }

        var (length, value) = LongestTrieMatch(input);
        if (length > 0)
        {
            consumed = length;
            var rest = _replacements.AsSpan(value);
            int end = rest.IndexOf((byte)0);
            return end < 0 ? rest : rest[..end];
        }
        consumed = Math.Min(Utf8Length(input[0]), input.Length);
        return input[..consumed];
    }

    // Darts-clone commonPrefixSearch: walk the double array byte by byte; a unit with a leaf marks a match.
    private (int Length, int Value) LongestTrieMatch(ReadOnlySpan<byte> key)
    {
        if (_trie.Length == 0) return (0, 0);
        int longest = 0, value = 0, found = 0;
        uint id = Offset(_trie[0]);
        for (int i = 0; i < key.Length; i++)
        {
            id ^= key[i];
            if (id >= _trie.Length) return (longest, value);
            uint unit = _trie[id];
            if ((unit & 0x800000FFu) != key[i]) return (longest, value); // label
            id ^= Offset(unit);
            if (((unit >> 8) & 1) == 1)                                    // has leaf
            {
                if (found++ < MaxTrieResults && i + 1 > longest)
                {
                    longest = i + 1;
                    value = (int)(_trie[id] & 0x7FFFFFFFu);
                }
            }
        }
        return (longest, value);
    }

    private static uint Offset(uint unit) => (unit >> 10) << (int)((unit & (1u << 9)) >> 6);

    private static int Utf8Length(byte lead) => lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;

    private static (uint[] Trie, byte[] Replacements) DecodeCharsMap(byte[] blob, string file)
    {
        if (blob.Length == 0) return ([], []);
        if (blob.Length <= 4) throw new InvalidDataException($"{file}: normalizer_spec.precompiled_charsmap is truncated.");
        uint trieSize = BinaryPrimitives.ReadUInt32LittleEndian(blob);
        if (trieSize >= (uint)(blob.Length - 4) || trieSize % 4 != 0)
            throw new InvalidDataException($"{file}: normalizer_spec.precompiled_charsmap has a bad trie size {trieSize}.");
        var trie = new uint[trieSize / 4];
        for (int i = 0; i < trie.Length; i++) trie[i] = BinaryPrimitives.ReadUInt32LittleEndian(blob.AsSpan(4 + 4 * i));
        return (trie, blob[(4 + (int)trieSize)..]);
    }
}
