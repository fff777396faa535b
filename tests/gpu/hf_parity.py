#!/usr/bin/env python3
"""Logit parity of `qst logits` (TorchSharp, CUDA and CPU) with Hugging Face transformers, on a random Llama.

Runs only on a GPU host with PyTorch + transformers (never in CI). It:
  1. makes a small random LlamaForCausalLM with GQA (transformers, seeded) and saves it in bf16 safetensors;
  2. computes reference logits with transformers: the bf16 weights upcast to fp32 (the exact reference) and the
     model in bf16 on CUDA (what a user would run);
  3. runs `qst logits` on the same checkpoint and tokens: bf16 and fp32 on CUDA, NF4 on CUDA and CPU;
  4. writes parity.json and parity.md: relative error ||a - b|| / ||b||, max |a - b| and argmax agreement.
Usage: hf_parity.py QST_EXECUTABLE OUT_DIR
"""
import json, os, subprocess, sys, tempfile

import torch
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM

qst, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
work = tempfile.mkdtemp(prefix="qst-parity-")
model_dir = os.path.join(work, "hf-llama")

torch.manual_seed(0)
config = LlamaConfig(vocab_size=1000, hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                     num_attention_heads=8, num_key_value_heads=2, max_position_embeddings=512,
                     rms_norm_eps=1e-5, rope_theta=10000.0, tie_word_embeddings=False,
                     initializer_range=0.05, bos_token_id=1, eos_token_id=2)
model = LlamaForCausalLM(config).to(torch.bfloat16)
model.save_pretrained(model_dir, safe_serialization=True)

generator = torch.Generator().manual_seed(1)
tokens = torch.randint(3, config.vocab_size, (96,), generator=generator)

def hf_logits(dtype, device):
    m = LlamaForCausalLM.from_pretrained(model_dir, dtype=dtype, attn_implementation="eager").to(device).eval()
    with torch.no_grad():
        return m(tokens.unsqueeze(0).to(device)).logits[0].float().cpu()

reference = hf_logits(torch.float32, "cuda")     # bf16 weights, fp32 compute: the exact reference
hf_bf16 = hf_logits(torch.bfloat16, "cuda")      # what transformers gives in bf16 on the GPU

def qst_logits(*args):
    path = os.path.join(work, "qst-" + "-".join(a.strip("-").replace(":", "") for a in args) + ".safetensors")
    cmd = [qst, "logits", "--model", model_dir, "--tokens", ",".join(str(int(t)) for t in tokens), "--out", path, *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return load_file(path)["logits"]

def compare(name, a, b, against):
    diff = (a - b).float()
    return {"run": name, "against": against,
            "rel_error": float(diff.norm() / b.float().norm()),
            "max_abs": float(diff.abs().max()),
            "argmax_agreement": float((a.argmax(-1) == b.argmax(-1)).float().mean())}

runs = {
    "qst cuda fp32": qst_logits("--dtype", "fp32", "--device", "cuda"),
    "qst cuda bf16": qst_logits("--dtype", "bf16", "--device", "cuda"),
    "qst cuda nf4 (bf16 compute)": qst_logits("--nf4", "--dtype", "bf16", "--device", "cuda"),
    "qst cpu nf4 (bf16 compute)": qst_logits("--nf4", "--dtype", "bf16", "--device", "cpu"),
    "qst cpu fp32": qst_logits("--dtype", "fp32", "--device", "cpu"),
}
rows = [compare("hf cuda bf16", hf_bf16, reference, "hf fp32")]
rows += [compare(name, logits, reference, "hf fp32") for name, logits in runs.items()]
rows.append(compare("qst cuda bf16", runs["qst cuda bf16"], hf_bf16, "hf cuda bf16"))
rows.append(compare("qst cuda nf4 (bf16 compute)", runs["qst cuda nf4 (bf16 compute)"], runs["qst cpu nf4 (bf16 compute)"], "qst cpu nf4"))

info = {"torch": torch.__version__, "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name(0),
        "transformers": __import__("transformers").__version__,
        "model": "random Llama: vocab 1000, H 256, I 688, 4 layers, 8 heads, 2 KV heads (GQA), bf16 safetensors",
        "tokens": len(tokens), "rows": rows}
with open(os.path.join(out, "parity.json"), "w") as f:
    json.dump(info, f, indent=2)
lines = ["# `qst logits` vs Hugging Face transformers", "",
         f"{info['gpu']}, torch {info['torch']} (CUDA {info['cuda']}), transformers {info['transformers']}.  ",
         f"Model: {info['model']}; one sequence of {len(tokens)} random tokens. Reference: transformers with the bf16 weights in fp32 on CUDA.", "",
         "| run | against | rel. error | max abs | argmax agreement |", "|---|---|---:|---:|---:|"]
lines += [f"| {r['run']} | {r['against']} | {r['rel_error']:.2e} | {r['max_abs']:.2e} | {100 * r['argmax_agreement']:.1f} % |" for r in rows]
with open(os.path.join(out, "parity.md"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("\n".join(lines))
