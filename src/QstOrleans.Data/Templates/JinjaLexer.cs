using System.Globalization;
using System.Text;

namespace QstOrleans.Data.Templates;

/// <summary>Kinds of <see cref="JinjaToken"/>.</summary>
internal enum JinjaTokenKind { Text, VariableStart, BlockStart, TagEnd, Name, String, Integer, Float, Operator, End }

/// <summary>One lexical token; <see cref="Position"/> is the character offset in the template, for error messages.</summary>
internal readonly record struct JinjaToken(JinjaTokenKind Kind, string Value, int Position);

/// <summary>
/// Splits a Jinja template into text and tag tokens, applying whitespace control the way transformers configures
/// jinja2 for chat templates: <c>trim_blocks</c> (the first newline after a block or comment tag is dropped),
/// <c>lstrip_blocks</c> (spaces and tabs before a block or comment tag at the start of a line are dropped), and the
/// explicit <c>{%-</c> / <c>-%}</c> / <c>{{-</c> / <c>-}}</c> markers (all whitespace on that side is dropped).
/// </summary>
/// <remarks>Comments vanish. An unterminated tag or string throws <see cref="JinjaException"/> with its position.</remarks>
internal sealed class JinjaLexer
{
    private static readonly string[] Operators = ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[", "]", "{", "}", ",", ":", ".", "|", "="];
    private readonly string _source;
    private readonly List<JinjaToken> _tokens = [];
    private int _pos;
    private int _tagEnd; // where the last tag's closing marker starts, for error positions

    private JinjaLexer(string source) => _source = source;

    public static List<JinjaToken> Tokenize(string source)
    {
        var lexer = new JinjaLexer(source);
        lexer.Run();
        return lexer._tokens;
    }

    private void Run()
    {
        bool stripNextText = false, trimNextNewline = false;
        bool lineStarting = true; // the text starts a line (template start, or the last tag consumed a newline)
        while (_pos < _source.Length)
        {
            int open = FindTagOpen(_pos);
            string text = _source[_pos..(open < 0 ? _source.Length : open)];
            string trimmed = stripNextText ? text.TrimStart()
                : trimNextNewline && text.StartsWith("\r\n", StringComparison.Ordinal) ? text[2..]
                : trimNextNewline && text.StartsWith('\n') ? text[1..]
                : text;
            if (trimmed.Length != text.Length) lineStarting = text[..(text.Length - trimmed.Length)].EndsWith('\n');
            text = trimmed;
            stripNextText = trimNextNewline = false;
            if (open < 0)
            {
                AddText(text, _pos);
                break;
            }
            char kind = _source[open + 1];
            bool minus = open + 2 < _source.Length && _source[open + 2] == '-';
            bool plus = open + 2 < _source.Length && _source[open + 2] == '+';
            if (minus) text = text.TrimEnd();
            else if (kind != '{' && !plus)
            {
                // lstrip_blocks, as jinja2's lexer: only whitespace between the line start and the tag is dropped.
                int lineStart = text.LastIndexOf('\n') + 1;
                if ((lineStart > 0 || lineStarting) && lineStart < text.Length && string.IsNullOrWhiteSpace(text[lineStart..]))
                    text = text[..lineStart];
            }
            AddText(text, _pos);
            _pos = open + 2 + (minus || plus ? 1 : 0);

            bool rightMinus;
            if (kind == '#')
            {
                int close = _source.IndexOf("#}", _pos, StringComparison.Ordinal);
                if (close < 0) throw new JinjaException($"unterminated comment at {open}");
                rightMinus = close > _pos && _source[close - 1] == '-';
                _pos = close + 2;
            }
            else
            {
                _tokens.Add(new JinjaToken(kind == '{' ? JinjaTokenKind.VariableStart : JinjaTokenKind.BlockStart, "", open));
                rightMinus = LexTagBody(kind == '{' ? '}' : '%', open);
                _tokens.Add(new JinjaToken(JinjaTokenKind.TagEnd, "", _tagEnd));
            }
            stripNextText = rightMinus;
            trimNextNewline = !rightMinus && kind != '{';
            lineStarting = false;
        }
        _tokens.Add(new JinjaToken(JinjaTokenKind.End, "", _source.Length));
    }

    private int FindTagOpen(int from)
    {
        for (int i = _source.IndexOf('{', from); i >= 0 && i + 1 < _source.Length; i = _source.IndexOf('{', i + 1))
            if (_source[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    private void AddText(string text, int position)
    {
        if (text.Length > 0) _tokens.Add(new JinjaToken(JinjaTokenKind.Text, text, position));
    }

    // Lexes the expression tokens of one tag; returns whether it closed with "-%}" / "-}}".
    private bool LexTagBody(char closer, int open)
    {
        int depth = 0;
        while (true)
        {
            while (_pos < _source.Length && char.IsWhiteSpace(_source[_pos])) _pos++;
            if (_pos >= _source.Length) throw new JinjaException($"unterminated tag opened at {open}");
            _tagEnd = _pos;
            if (depth == 0)
            {
                if (_source[_pos] == closer && At(_pos + 1, '}')) { _pos += 2; return false; }
                if (_source[_pos] == '-' && At(_pos + 1, closer) && At(_pos + 2, '}')) { _pos += 3; return true; }
                if (_source[_pos] == '+' && At(_pos + 1, closer) && At(_pos + 2, '}')) { _pos += 3; return false; }
            }
            char c = _source[_pos];
            int start = _pos;
            if (char.IsLetter(c) || c == '_')
            {
                while (_pos < _source.Length && (char.IsLetterOrDigit(_source[_pos]) || _source[_pos] == '_')) _pos++;
                _tokens.Add(new JinjaToken(JinjaTokenKind.Name, _source[start.._pos], start));
            }
            else if (char.IsAsciiDigit(c)) LexNumber(start);
            else if (c is '\'' or '"') _tokens.Add(new JinjaToken(JinjaTokenKind.String, LexString(c), start));
            else
            {
                string op = Operators.FirstOrDefault(o => string.CompareOrdinal(_source, _pos, o, 0, o.Length) == 0)
                    ?? throw new JinjaException($"unexpected character '{c}' at {_pos}");
                if (op is "(" or "[" or "{") depth++;
                if (op is ")" or "]" or "}") depth--;
                _pos += op.Length;
                _tokens.Add(new JinjaToken(JinjaTokenKind.Operator, op, start));
            }
        }
    }

    private bool At(int i, char c) => i < _source.Length && _source[i] == c;

    private void LexNumber(int start)
    {
        while (_pos < _source.Length && (char.IsAsciiDigit(_source[_pos]) || _source[_pos] == '_')) _pos++;
        bool isFloat = _pos + 1 < _source.Length && _source[_pos] == '.' && char.IsAsciiDigit(_source[_pos + 1]);
        if (isFloat)
        {
            _pos++;
            while (_pos < _source.Length && char.IsAsciiDigit(_source[_pos])) _pos++;
        }
        string text = _source[start.._pos].Replace("_", "");
        _tokens.Add(new JinjaToken(isFloat ? JinjaTokenKind.Float : JinjaTokenKind.Integer, text, start));
    }

    private string LexString(char quote)
    {
        int start = _pos++;
        var sb = new StringBuilder();
        while (_pos < _source.Length && _source[_pos] != quote)
        {
            char c = _source[_pos++];
            if (c != '\\' || _pos >= _source.Length)
            {
                sb.Append(c);
                continue;
            }
            char e = _source[_pos++];
            switch (e)
            {
                case 'n': sb.Append('\n'); break;
                case 't': sb.Append('\t'); break;
                case 'r': sb.Append('\r'); break;
                case '0': sb.Append('\0'); break;
                case '\\': sb.Append('\\'); break;
                case '\'': sb.Append('\''); break;
                case '"': sb.Append('"'); break;
                case 'u' when _pos + 4 <= _source.Length:
                    sb.Append((char)int.Parse(_source.AsSpan(_pos, 4), NumberStyles.HexNumber));
                    _pos += 4;
                    break;
                default: sb.Append('\\').Append(e); break; // Python keeps unknown escapes as written
            }
        }
        if (_pos >= _source.Length) throw new JinjaException($"unterminated string starting at {start}");
        _pos++;
        return sb.ToString();
    }
}
