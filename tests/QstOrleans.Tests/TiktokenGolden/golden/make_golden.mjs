// Token ids of npm `tiktoken` (the WASM build of OpenAI's tiktoken) for every line of the shared golden corpus
// (../../Tokenization/golden/texts.jsonl, one JSON string per line), one output line per input line, ids separated by
// single spaces. Run from this folder after `npm install tiktoken` in a temporary folder (node_modules is not committed):
//   NODE_PATH=/tmp/tk/node_modules node make_golden.mjs
import { createRequire } from "module";
import { readFileSync, writeFileSync } from "fs";
import { dirname, join } from "path";
const require = createRequire(import.meta.url);
const { get_encoding } = require("tiktoken");
const version = JSON.parse(readFileSync(join(dirname(require.resolve("tiktoken")), "package.json"), "utf8")).version;

const texts = readFileSync("../../Tokenization/golden/texts.jsonl", "utf8").split("\n").filter(l => l.length > 0).map(l => JSON.parse(l));
for (const name of ["cl100k_base", "o200k_base"]) {
  const enc = get_encoding(name);
  // encode_ordinary: special-token text is encoded as plain text (what Microsoft.ML.Tokenizers' EncodeToIds does
  // when the tokenizer is made without special tokens).
  const lines = texts.map(t => Array.from(enc.encode_ordinary(t)).join(" "));
  writeFileSync(`${name}.ids`, lines.join("\n") + "\n");
  enc.free();
  console.log(`${name}: ${texts.length} lines (tiktoken ${version})`);
}
