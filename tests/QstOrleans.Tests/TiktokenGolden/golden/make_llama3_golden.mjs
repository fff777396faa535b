// A Llama-3-style tiktoken file and the ids npm `tiktoken` (the WASM build of OpenAI's tiktoken) gives for it, through
// its custom `Tiktoken` class with Llama-3's split pattern and special tokens (Meta's tokenizer.py numbering, from the
// rank count). The ranks are cl100k_base's first RANKS (every single byte, then the earliest merges), so the file is
// small but real. Writes llama3_small.tiktoken, llama3_small.ids (encode_ordinary of every line of the shared corpus
// ../../Tokenization/golden/texts.jsonl) and llama3_small.special.ids (encode with all special tokens allowed, of
// llama3_special_texts.jsonl). Run from this folder after `npm install tiktoken` in a temporary folder:
//   NODE_PATH=/tmp/tk/node_modules node make_llama3_golden.mjs
import { createRequire } from "module";
import { readFileSync, writeFileSync } from "fs";
import { dirname, join } from "path";
const require = createRequire(import.meta.url);
const { get_encoding, Tiktoken } = require("tiktoken");
const version = JSON.parse(readFileSync(join(dirname(require.resolve("tiktoken")), "package.json"), "utf8")).version;

const RANKS = 4096;
// Meta's pat_str (llama/tokenizer.py).
const PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const cl100k = get_encoding("cl100k_base");
const lines = [];
for (let rank = 0; rank < RANKS; rank++)
  lines.push(Buffer.from(cl100k.decode_single_token_bytes(rank)).toString("base64") + " " + rank);
cl100k.free();
const file = lines.join("\n") + "\n";
writeFileSync("llama3_small.tiktoken", file);

const names = ["<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
  "<|reserved_special_token_2|>", "<|reserved_special_token_3|>", "<|start_header_id|>", "<|end_header_id|>",
  "<|reserved_special_token_4|>", "<|eot_id|>"];
for (let i = 5; names.length < 256; i++) names.push(`<|reserved_special_token_${i}|>`);
const specials = Object.fromEntries(names.map((n, i) => [n, RANKS + i]));
const enc = new Tiktoken(file, specials, PATTERN);

const read = f => readFileSync(f, "utf8").split("\n").filter(l => l.length > 0).map(l => JSON.parse(l));
const texts = read("../../Tokenization/golden/texts.jsonl");
writeFileSync("llama3_small.ids", texts.map(t => Array.from(enc.encode_ordinary(t)).join(" ")).join("\n") + "\n");
const chats = read("llama3_special_texts.jsonl");
writeFileSync("llama3_small.special.ids", chats.map(t => Array.from(enc.encode(t, "all")).join(" ")).join("\n") + "\n");
enc.free();
console.log(`llama3_small: ${RANKS} ranks, ${texts.length} + ${chats.length} lines (tiktoken ${version})`);
