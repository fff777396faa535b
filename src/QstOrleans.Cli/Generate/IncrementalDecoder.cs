using QstOrleans.Data.Tokenization;

namespace QstOrleans.Cli.Generate;

/// <summary>
/// Turns a stream of token ids into a stream of text: each push decodes the whole generated prefix and
/// returns what was added since the last push. Decoding the prefix (not each token alone) keeps
/// SentencePiece's word-boundary spaces ("▁cat" → " cat" inside a text) and multi-token UTF-8 characters
/// (byte-fallback pieces) right; a prefix ending in an incomplete character (U+FFFD) is held back.
/// </summary>
internal sealed class IncrementalDecoder(ModelTokenizer tokenizer)
{
    readonly List<int> _ids = [];

    /// <summary>All text handed out so far.</summary>
    public string Text { get; private set; } = "";

    /// <summary>Adds a token and returns the new text (possibly empty).</summary>
    public string Push(int id)
    {
        _ids.Add(id);
        string decoded = tokenizer.Decode(_ids);
        if (decoded.EndsWith('\uFFFD')) return "";   // a character split over tokens: wait for its last byte
        return Advance(decoded);
    }

    /// <summary>Whatever is still held back (an incomplete character at the very end).</summary>
    public string Flush() => Advance(tokenizer.Decode(_ids));

    string Advance(string decoded)
    {
        // The decoded prefix normally only grows; if the decoder revised earlier text, hand out the new tail.
        int common = 0;
        while (common < Text.Length && common < decoded.Length && Text[common] == decoded[common]) common++;
        string delta = decoded[common..];
        Text = decoded;
        return delta;
    }
}
