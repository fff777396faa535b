using System.Text;
using System.Text.RegularExpressions;

namespace QstOrleans.Data.Tokenization;

/// <summary>What kind of tokenizer file a model directory provides.</summary>
public enum TokenizerFileFormat
{
    /// <summary>A serialized SentencePiece ModelProto (Llama 1/2).</summary>
    SentencePiece,
    /// <summary>A tiktoken BPE ranks file, lines "base64token rank" (Llama 3).</summary>
    Tiktoken,
    /// <summary>A HF fast-tokenizer <c>tokenizer.json</c> with a BPE model (GPT-2 / Llama-3 byte-level BPE).</summary>
    HfTokenizerJson,
}

/// <summary>Sniffs a tokenizer file's format from its first line.</summary>
internal static partial class TokenizerFormatDetector
{
    [GeneratedRegex(@"^[A-Za-z0-9+/]+={0,2} [0-9]+\r?$")]
    private static partial Regex TiktokenLine();

    /// <summary>
    /// Tiktoken when the first line is "base64 rank"; SentencePiece when the file starts like a protobuf
    /// ModelProto (field 1, length-delimited: byte 0x0A). Throws <see cref="InvalidDataException"/> otherwise.
    /// </summary>
    public static TokenizerFileFormat Detect(string path)
    {
        byte[] head = new byte[512];
        int n;
        using (var fs = File.OpenRead(path)) n = fs.ReadAtLeast(head, head.Length, throwOnEndOfStream: false);
        if (n == 0) throw new InvalidDataException($"{path}: tokenizer file is empty.");
        int eol = Array.IndexOf(head, (byte)'\n', 0, n);
        if (eol > 0)
        {
            string first = Encoding.ASCII.GetString(head, 0, eol);
            if (TiktokenLine().IsMatch(first)) return TokenizerFileFormat.Tiktoken;
        }
        if (head[0] == 0x0A) return TokenizerFileFormat.SentencePiece;
        throw new InvalidDataException(
            $"{path}: not a SentencePiece model (protobuf starting with 0x0A) nor a tiktoken ranks file ('base64 rank' lines).");
    }
}
