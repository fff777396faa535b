#!/usr/bin/python3
"""Golden files for the SentencePiece tests, produced by Google's sentencepiece itself.

Run with Debian's python3-sentencepiece (apt-get install python3-sentencepiece; no pip needed):
    /usr/bin/python3 tests/QstOrleans.Tests/Tokenization/golden/make_golden.py

Writes, next to this script:
  <name>.model        small models trained here with different trainer/normalizer settings
  texts.jsonl         the test lines (one JSON string per line: English, digits, several scripts,
                      whitespace runs, emoji, control characters, repeated characters for merge ties)
  <name>.ids          sentencepiece's ids for each line of texts.jsonl (space-separated, no BOS)
  <name>.decoded.jsonl  sentencepiece's decode of those ids (one JSON string per line)
The C# tests read only these committed files; this script is how they were made.
Everything is seeded: running it again gives the same files (for the same sentencepiece version).
"""
import io
import json
import os
import random
import sentencepiece as spm

HERE = os.path.dirname(os.path.abspath(__file__))

WORDS = ("the of and to in is was that for it with as his on be at by had are but from or have an they which one you "
         "were her all she there would their we him been has when who will more no if out so said what up its about into "
         "than them can only other new some could time these two may then do first any my now such like our over man me "
         "even most made after also did many before must through back years where much your way well down should because "
         "each just those people how too little state good very make world still own see men work long get here between "
         "both life being under never day same another know while last might us great old year off come since against go "
         "came right used take three tokenizer model training merge piece sentence byte fallback quantized side network "
         "gradient adapter llama stage grain pipeline checkpoint resume dataset ").split()
GREEK = "καλημέρα κόσμε η γλώσσα είναι ωραία αλφάβητο".split()
CYRILLIC = "привет мир это простой текст для проверки токенизатора".split()
CJK = ["日本語", "東京", "中文", "汉字", "테스트", "한국어", "ひらがな", "カタカナ", "漢字かな交じり文"]
ARABIC = "مرحبا بالعالم هذا نص عربي".split()
HINDI = "नमस्ते दुनिया यह एक परीक्षण है".split()
EMOJI = ["😀", "🎉", "👍🏽", "🇫🇷", "👨‍👩‍👧", "❤️", "🚀", "✓", "★"]
ODD = ["ﬁ", "Å", "Å", "½", "①", "ｆｕｌｌ", "™", "…", "\u00a0", "\u3000", "\u200b", "é", "e\u0301", "ß", "İ", "ǅ", "㎏", "\t"]
PUNCT = list(".,;:!?()[]{}\"'-_/\\@#$%^&*+=<>|~`")


def word(rng):
    r = rng.random()
    if r < 0.70: w = rng.choice(WORDS)
    elif r < 0.74: w = rng.choice(GREEK)
    elif r < 0.78: w = rng.choice(CYRILLIC)
    elif r < 0.82: w = rng.choice(CJK)
    elif r < 0.84: w = rng.choice(ARABIC)
    elif r < 0.86: w = rng.choice(HINDI)
    elif r < 0.90: w = str(rng.randint(0, 10 ** rng.randint(1, 8)))
    elif r < 0.93: w = rng.choice(EMOJI)
    elif r < 0.96: w = rng.choice(ODD)
    else: w = rng.choice(PUNCT)
    if rng.random() < 0.1: w = w.capitalize()
    if rng.random() < 0.03: w = w.upper()
    return w


def sentence(rng, n):
    out = []
    for _ in range(n):
        out.append(word(rng))
        r = rng.random()
        if r < 0.85: out.append(" ")
        elif r < 0.90: out.append(rng.choice(PUNCT) + " ")
        elif r < 0.95: out.append(" " * rng.randint(2, 6))
        elif r < 0.97: out.append("\t")
        else: out.append("")
    return "".join(out).rstrip(" ")


def corpus(rng, n):
    return [sentence(rng, rng.randint(3, 30)) for _ in range(n)]


def test_lines(rng):
    lines = [
        "", " ", "  ", "a", " a", "a ", "  leading and trailing  ", "hello world", "Hello, World!",
        "aaaa", "aaaaa", "aaaaaaaaaaaaaaaaa", "abababab", "the the the the", "1111", "12345678901234567890",
        "3.14159 2.71828 1,000,000 $42.00 100%", "    four spaces", "tabs\tand\t\ttabs", "x" * 40,
        "!!!!!!!!", "........", "----", "====", "____", "▁▁ already escaped ▁", "<s> </s> <unk> <sep> text", "<sep><sep>",
        "ﬁx the ﬁle", "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ １２３", "e\u0301te\u0301 vs été", "Å Å Å", "½ ¼ ① ② ™ ㎏",
        "zero\u200bwidth", "nbsp\u00a0here", "ideographic\u3000space", "emoji 😀🎉👍🏽🇫🇷👨‍👩‍👧 family", "❤️❤️❤️",
        "日本語のテキストです。", "中文文本测试", "한국어 텍스트", "Привет, мир!", "Καλημέρα κόσμε", "مرحبا بالعالم",
        "नमस्ते दुनिया", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙", "control\x01\x02\x7fchars", "\x0bvertical\x0cfeed", "line\u2028sep",
        "### Instruction:\nSay hi.\n\n### Response:\nhi", "a\nb\r\nc", "trailing newline\n", "\n\n\n",
        "rare ȸȹȺȻ glyphs", "Ǆǅǆ ǈ ǋ", "ÀÁÂÃÄÅ àáâãäå", "İstanbul ıi", "ﬀﬁﬂﬃﬄ", "⁰¹²³ ₀₁₂", "Ⅻ ⅻ",
    ]
    for n in range(1, 12):
        lines.append("a" * n)
        lines.append(" " * n + "x")
        lines.append("9" * n)
        lines.append("ab" * n)
    while len(lines) < 2000:
        lines.append(sentence(rng, rng.randint(1, 40)))
    return lines


MODELS = {
    # Llama-2's trainer settings: BPE, byte fallback, split digits, identity normalization.
    "bpe_llama": dict(model_type="bpe", vocab_size=1000, byte_fallback=True, split_digits=True,
                      normalization_rule_name="identity", add_dummy_prefix=True, remove_extra_whitespaces=False,
                      allow_whitespace_only_pieces=True, character_coverage=0.99995, max_sentencepiece_length=16),
    # sentencepiece's defaults (nmt_nfkc, remove_extra_whitespaces), no byte fallback (unknowns -> <unk>),
    # user-defined symbols that bypass normalization.
    "bpe_nfkc": dict(model_type="bpe", vocab_size=800, character_coverage=0.995, user_defined_symbols=["<sep>", "ﬁx"]),
    # Unigram with the defaults (nmt_nfkc) and byte fallback.
    "unigram_nfkc": dict(model_type="unigram", vocab_size=800, byte_fallback=True, character_coverage=0.995),
    # Unigram, identity normalization, whitespace kept, split digits, no byte fallback, a user-defined symbol.
    "unigram_identity": dict(model_type="unigram", vocab_size=800, normalization_rule_name="identity",
                             remove_extra_whitespaces=False, split_digits=True, character_coverage=0.995,
                             user_defined_symbols=["<sep>"]),
}


def main():
    rng = random.Random(17)
    train = corpus(rng, 6000)
    lines = test_lines(random.Random(1717))
    with open(os.path.join(HERE, "texts.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=True) + "\n")
    for name, settings in MODELS.items():
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(train), model_writer=model, hard_vocab_limit=False,
                                       num_threads=1, minloglevel=2, **settings)
        path = os.path.join(HERE, name + ".model")
        with open(path, "wb") as f:
            f.write(model.getvalue())
        sp = spm.SentencePieceProcessor(model_file=path)
        with open(os.path.join(HERE, name + ".ids"), "w", encoding="utf-8", newline="\n") as ids_file, \
             open(os.path.join(HERE, name + ".decoded.jsonl"), "w", encoding="utf-8", newline="\n") as dec_file:
            for line in lines:
                ids = sp.encode(line, out_type=int)
                ids_file.write(" ".join(map(str, ids)) + "\n")
                dec_file.write(json.dumps(sp.decode(ids), ensure_ascii=True) + "\n")
        print(name, sp.get_piece_size(), os.path.getsize(path), "bytes")


if __name__ == "__main__":
    main()
