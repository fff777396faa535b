using QstOrleans.Data.Tokenization;

namespace QstOrleans.Cli.ModelTools;

/// <summary>
/// <c>qst tokenize --model DIR (--text T | --file F) [--ids | --pieces] [--bos]</c> and
/// <c>qst detokenize --model DIR (--ids "1 2 3" | --file F) [--special]</c>: show what the model sees, with the
/// same <see cref="ModelTokenizer"/> training and generation use.
/// </summary>
/// <remarks>
/// Output of <c>tokenize</c>, one input line at a time (a <c>--file</c> is streamed, split at line breaks): with
/// <c>--ids</c> the ids separated by single spaces, one output line per input line; with <c>--pieces</c> the pieces
/// the same way (SentencePiece pieces as stored: '▁' for a space, <c>&lt;0xXX&gt;</c> for byte fallback); with
/// neither, an <c>ids:</c> line and a <c>pieces:</c> line per input line. No BOS unless <c>--bos</c>.
/// <c>detokenize</c> reads ids separated by spaces or commas, one sequence per line, and prints the decoded text
/// (special tokens dropped unless <c>--special</c>). Bad input throws <see cref="ArgumentException"/> naming the option.
/// </remarks>
internal static class TokenCommands
{
    /// <summary>What <see cref="Tokenize"/> prints per input line.</summary>
    public enum TokenOutput { Both, Ids, Pieces }

    public static Command CreateTokenize()
    {
        var model = new Option<string>("--model") { Description = "Model directory (its tokenizer.model / tokenizer.json)", Required = true };
        var text = new Option<string?>("--text") { Description = "Text to tokenize" };
        var file = new Option<string?>("--file") { Description = "UTF-8 text file; each line is tokenized on its own" };
        var ids = new Option<bool>("--ids") { Description = "Print only the ids, one line per input line, separated by single spaces" };
        var pieces = new Option<bool>("--pieces") { Description = "Print only the pieces, one line per input line" };
        var bos = new Option<bool>("--bos") { Description = "Prepend the BOS id" };
        var command = new Command("tokenize", "Print the token ids and pieces of a text for a model's tokenizer.") { model, text, file, ids, pieces, bos };
        command.SetAction(r => CliErrors.Run(() =>
        {
            if (r.GetValue(ids) && r.GetValue(pieces)) throw new ArgumentException("--ids and --pieces: give at most one");
            var output = r.GetValue(ids) ? TokenOutput.Ids : r.GetValue(pieces) ? TokenOutput.Pieces : TokenOutput.Both;
            var tokenizer = ModelTokenizer.Load(r.GetValue(model)!);
            Tokenize(tokenizer, Lines(r.GetValue(text), r.GetValue(file), "--text"), output, r.GetValue(bos), Console.Out);
            return 0;
        }));
        return command;
    }

    public static Command CreateDetokenize()
    {
        var model = new Option<string>("--model") { Description = "Model directory (its tokenizer.model / tokenizer.json)", Required = true };
        var ids = new Option<string?>("--ids") { Description = "Token ids separated by spaces or commas" };
        var file = new Option<string?>("--file") { Description = "File of id sequences, one per line (as 'qst tokenize --ids' prints)" };
        var special = new Option<bool>("--special") { Description = "Keep special tokens (BOS, EOS, ...) in the text" };
        var command = new Command("detokenize", "Print the text of token ids for a model's tokenizer.") { model, ids, file, special };
        command.SetAction(r => CliErrors.Run(() =>
        {
            var tokenizer = ModelTokenizer.Load(r.GetValue(model)!);
            Detokenize(tokenizer, Lines(r.GetValue(ids), r.GetValue(file), "--ids"), r.GetValue(special), Console.Out);
            return 0;
        }));
        return command;
    }

    public static void Tokenize(ModelTokenizer tokenizer, IEnumerable<string> lines, TokenOutput output, bool bos, TextWriter writer)
    {
        foreach (string line in lines)
        {
            var tokens = tokenizer.EncodePieces(line).ToList();
            if (bos) tokens.Insert(0, (tokenizer.BosToken, tokenizer.BosId));
            string idText = string.Join(' ', tokens.Select(t => t.Id));
            string pieceText = string.Join(' ', tokens.Select(t => t.Piece));
            switch (output)
            {
                case TokenOutput.Ids: writer.WriteLine(idText); break;
                case TokenOutput.Pieces: writer.WriteLine(pieceText); break;
                default:
                    writer.WriteLine($"ids:    {idText}");
                    writer.WriteLine($"pieces: {pieceText}");
                    break;
            }
        }
    }

    public static void Detokenize(ModelTokenizer tokenizer, IEnumerable<string> lines, bool keepSpecial, TextWriter writer)
    {
        int lineNumber = 0;
        foreach (string line in lines)
        {
            lineNumber++;
            var ids = line.Split([' ', ',', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(p =>
                int.TryParse(p, out int id) && id >= 0 && id < tokenizer.VocabSize ? id
                : throw new ArgumentException($"--ids: line {lineNumber}: '{p}' is not a token id of this tokenizer (0..{tokenizer.VocabSize - 1})")).ToList();
            writer.WriteLine(tokenizer.Decode(ids, skipSpecialTokens: !keepSpecial));
        }
    }

    // Exactly one source: the inline value (one line, as given) or the file, streamed line by line.
    private static IEnumerable<string> Lines(string? inline, string? file, string inlineOption)
    {
        if ((inline is null) == (file is null)) throw new ArgumentException($"give exactly one of {inlineOption} and --file");
        if (inline is not null) return [inline];
        if (!File.Exists(file)) throw new FileNotFoundException($"--file: '{file}' does not exist.", file);
        return File.ReadLines(file!);
    }
}
