// Small tokenizer.json files in the configurations Llama-3, Qwen-2 and Mistral/Llama-2 HF repos use, and the token ids
// (and decoded text) npm `@huggingface/transformers` gives for every line of the shared golden corpus
// (../../Tokenization/golden/texts.jsonl). The vocabularies are trained here on that corpus (plain BPE: most frequent
// pair first, ties to the smaller pair) so the merges matter on every line; the ids come from the library alone.
// Run from this folder after installing the library in a temporary folder (node_modules is not committed):
//   mkdir -p /tmp/hft && (cd /tmp/hft && npm install --ignore-scripts @huggingface/transformers@4.3.1)
//   NODE_PATH=/tmp/hft/node_modules node make_golden.mjs
// Outputs per configuration NAME: NAME.tokenizer.json, NAME.ids (one line per text, ids separated by single spaces,
// no special tokens added) and NAME.decoded.jsonl (the library's decode of those ids, special tokens kept, no clean-up of spaces).
import { createRequire } from "module";
import { readFileSync, writeFileSync } from "fs";
import { dirname, join } from "path";
const require = createRequire(import.meta.url);
const transformersMain = require.resolve("@huggingface/transformers");
const { PreTrainedTokenizer } = await import(transformersMain.replace(/transformers\.node\.cjs$/, "transformers.node.mjs"));
const version = JSON.parse(readFileSync(join(dirname(transformersMain), "..", "package.json"), "utf8")).version;

const texts = readFileSync("../../Tokenization/golden/texts.jsonl", "utf8").split("\n").filter(l => l.length > 0).map(l => JSON.parse(l));
const MERGES = 800;

// GPT-2's byte <-> printable character table (HF ByteLevel).
function bytesToUnicode() {
  const bs = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const map = new Map();
  bs.forEach((b, i) => map.set(b, String.fromCodePoint(cs[i])));
  return map;
}
const byteChar = bytesToUnicode();
const utf8 = new TextEncoder();
const byteLevel = s => Array.from(utf8.encode(s), b => byteChar.get(b)).join("");

// Plain BPE training over word counts: words are arrays of symbols; returns the merges in order.
function train(wordCounts, merges, allowed) {
  const words = [...wordCounts].map(([w, c]) => ({ s: w, c }));
  const out = [];
  for (let m = 0; m < merges; m++) {
    const pairs = new Map();
    for (const { s, c } of words)
      for (let i = 0; i + 1 < s.length; i++) {
        if (allowed && (!allowed.has(s[i]) || !allowed.has(s[i + 1]))) continue;
        const k = s[i] + "\u0000" + s[i + 1];
        pairs.set(k, (pairs.get(k) ?? 0) + c);
      }
    let best = null, bestCount = 1;
    for (const [k, c] of pairs) if (c > bestCount || (c === bestCount && best !== null && k < best)) { best = k; bestCount = c; }
    if (best === null) break;
    const [a, b] = best.split("\u0000");
    out.push([a, b]);
    if (allowed) allowed.add(a + b);
    for (const w of words) {
      const t = [];
      for (let i = 0; i < w.s.length; i++)
        if (i + 1 < w.s.length && w.s[i] === a && w.s[i + 1] === b) { t.push(a + b); i++; } else t.push(w.s[i]);
      w.s = t;
    }
  }
  return out;
}

function count(items) {
  const m = new Map();
  for (const w of items) m.set(w, (m.get(w) ?? 0) + 1);
  return new Map([...m].map(([w, c]) => [Array.from(w), c]));
}

const llama3Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const qwen2Regex = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// JavaScript has no inline (?i:...): the training split spells the contractions out (training only, not the reference).
const jsSplit = re => new RegExp(re.replace("(?i:'s|'t|'re|'ve|'m|'ll|'d)", "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]"), "gu");

function byteLevelTokenizer(regex, normalizer, specials, extraWords) {
  const words = texts.flatMap(t => (normalizer ? t.normalize("NFC") : t).match(jsSplit(regex)) ?? []).map(byteLevel);
  const merges = train(count(words), MERGES, null);
  const vocab = {};
  for (const c of byteChar.values()) vocab[c] = Object.keys(vocab).length;
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
  // Whole words that no merge sequence builds (ignore_merges finds them directly, as Llama-3's vocabulary has).
  for (const w of extraWords) if (!(w in vocab)) vocab[w] = Object.keys(vocab).length;
  const n = Object.keys(vocab).length;
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: specials.map((content, i) => ({ id: n + i, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
    normalizer: normalizer,
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      { type: "Split", pattern: { Regex: regex }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: extraWords.length > 0, vocab, merges },
  };
}

function metaspaceTokenizer(legacyNormalizer) {
  const normalized = texts.filter(t => t.length > 0).map(t => "\u2581" + t.replaceAll(" ", "\u2581"));
  const chars = new Map();
  for (const t of normalized) for (const c of t) chars.set(c, (chars.get(c) ?? 0) + 1);
  // Characters seen fewer than 3 times are left to byte fallback.
  const kept = [...chars].filter(([, c]) => c >= 3).sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1)).map(([c]) => c);
  const vocab = { "<unk>": 0, "<s>": 1, "</s>": 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`] = 3 + b;
  for (const c of kept) vocab[c] = Object.keys(vocab).length;
  const words = normalized.flatMap(t => t.match(/\u2581[^\u2581]*|[^\u2581]+/gu) ?? []);
  const merges = train(count(words), MERGES, new Set(kept));
  for (const [a, b] of merges) if (!(a + b in vocab)) vocab[a + b] = Object.keys(vocab).length;
  const special = (id, content) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  return {
    version: "1.0", truncation: null, padding: null,
    added_tokens: [special(0, "<unk>"), special(1, "<s>"), special(2, "</s>")],
    normalizer: legacyNormalizer
      ? { type: "Sequence", normalizers: [{ type: "Prepend", prepend: "\u2581" }, { type: "Replace", pattern: { String: " " }, content: "\u2581" }] }
      : null,
    pre_tokenizer: legacyNormalizer ? null : { type: "Metaspace", replacement: "\u2581", prepend_scheme: "first", split: false },
    post_processor: null,
    decoder: { type: "Sequence", decoders: [
      { type: "Replace", pattern: { String: "\u2581" }, content: " " }, { type: "ByteFallback" }, { type: "Fuse" },
      { type: "Strip", content: " ", start: 1, stop: 0 }] },
    model: { type: "BPE", dropout: null, unk_token: "<unk>", continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: true, byte_fallback: true, ignore_merges: false, vocab, merges: merges.map(([a, b]) => `${a} ${b}`) },
  };
}

// The 40 most frequent pre-tokenized words of 6+ characters, as ignore_merges vocabulary entries.
const frequent = [...count(texts.flatMap(t => t.match(jsSplit(llama3Regex)) ?? []).map(byteLevel))]
  .map(([w, c]) => [w.join(""), c]).filter(([w]) => Array.from(w).length >= 6).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
  .slice(0, 40).map(([w]) => w);

const configurations = {
  llama3: byteLevelTokenizer(llama3Regex, null, ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>"], frequent),
  qwen2: byteLevelTokenizer(qwen2Regex, { type: "NFC" }, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], []),
  mistral_legacy: metaspaceTokenizer(true),
  llama2_metaspace: metaspaceTokenizer(false),
};

for (const [name, json] of Object.entries(configurations)) {
  writeFileSync(`${name}.tokenizer.json`, JSON.stringify(json, null, 1) + "\n");
  const tokenizer = new PreTrainedTokenizer(json, {});
  const ids = texts.map(t => tokenizer.encode(t, { add_special_tokens: false }));
  writeFileSync(`${name}.ids`, ids.map(x => x.join(" ")).join("\n") + "\n");
  writeFileSync(`${name}.decoded.jsonl`, ids.map(x => JSON.stringify(x.length === 0 ? "" : tokenizer.decode(x, { skip_special_tokens: false, clean_up_tokenization_spaces: false }))).join("\n") + "\n");
  console.log(`${name}: ${Object.keys(json.model.vocab).length} tokens, ${json.model.merges.length} merges, ${texts.length} lines (@huggingface/transformers ${version})`);
}
