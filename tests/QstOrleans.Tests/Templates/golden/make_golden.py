#!/usr/bin/python3
"""Golden chat-template renderings, produced by jinja2 itself the way HF transformers renders chat templates.

Run with Debian's python3-jinja2 (apt-get install python3-jinja2; no pip needed):
    /usr/bin/python3 tests/QstOrleans.Tests/Templates/golden/make_golden.py

Reads templates/*.jinja (the chat_template strings of the model families, as in their tokenizer_config.json) and
writes chat_golden.jsonl: one JSON object per (template, conversation, add_generation_prompt) with the rendered
text, or the raise_exception message. The environment copies transformers' _compile_jinja_template:
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]), globals
raise_exception and strftime_now, and the tojson filter json.dumps(x, ensure_ascii=False, indent=indent).
The C# tests read only the committed files.
"""
import glob
import json
import os
from jinja2.exceptions import TemplateError
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

HERE = os.path.dirname(os.path.abspath(__file__))


def raise_exception(message):
    raise TemplateError(message)


def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def strftime_now(fmt):
    return "26 Jul 2024" if fmt == "%d %b %Y" else fmt  # fixed date: goldens must not depend on today


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
env.filters["tojson"] = tojson
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = strftime_now

SYSTEM = {"role": "system", "content": "You are a helpful assistant.\nAnswer briefly."}
CONVERSATIONS = {
    "single": [{"role": "user", "content": "Hello!"}],
    "system_single": [SYSTEM, {"role": "user", "content": "What is 2+2?"}],
    "multi": [{"role": "user", "content": "Hi there"}, {"role": "assistant", "content": "Hello! How can I help?"},
              {"role": "user", "content": "Tell me a joke."}],
    "system_multi": [SYSTEM, {"role": "user", "content": "  padded question  "},
                     {"role": "assistant", "content": " padded answer \n"}, {"role": "user", "content": "Next"},
                     {"role": "assistant", "content": "Done."}],
    "unicode": [{"role": "user", "content": "Übersetze: 日本語 🎉 «quotes» \"double\" 'single' \\ backslash"},
                {"role": "assistant", "content": "Ok ✓\n\n- a\n- b"}],
    "bad_order": [{"role": "user", "content": "one"}, {"role": "user", "content": "two"}],
    "ends_assistant": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}],
}
TOKENS = {"bos_token": "<s>", "eos_token": "</s>"}


def main():
    out = []
    for path in sorted(glob.glob(os.path.join(HERE, "templates", "*.jinja"))):
        name = os.path.splitext(os.path.basename(path))[0]
        with open(path, encoding="utf-8") as f:
            source = f.read()
        template = env.from_string(source)
        for conv_name, messages in CONVERSATIONS.items():
            for add_generation_prompt in (False, True):
                record = {"template": name, "conversation": conv_name, "add_generation_prompt": add_generation_prompt}
                try:
                    record["output"] = template.render(messages=messages, add_generation_prompt=add_generation_prompt, **TOKENS)
                except TemplateError as e:
                    record["error"] = str(e)
                out.append(record)
    with open(os.path.join(HERE, "conversations.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump({"tokens": TOKENS, "conversations": CONVERSATIONS}, f, ensure_ascii=False, indent=1)
    with open(os.path.join(HERE, "chat_golden.jsonl"), "w", encoding="utf-8", newline="\n") as f:
        for record in out:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(len(out), "renderings")


if __name__ == "__main__":
    main()
