#!/usr/bin/env python3
"""Compare oocr's GGUF tokenizer with Hugging Face transformers' on real models (not run in CI).

For each GGUF file: our ids come from the ignored test `dump_gguf_tokenizer_ids` (crates/oocr-llm/tests/
tokenizers.rs), which encodes the tokenizer fixture strings and every string of the built-in associations
(templates, answers, candidates, all 1600 subject names, every prompt); the reference ids come from
`transformers.AutoTokenizer.from_pretrained(folder, gguf_file=...)` on the same strings, with and without
special tokens. Prints, per model, how many strings agree, and the first disagreements.

Usage: python3 scripts/golden/compare_gguf_tokenizers.py models/SmolLM2-135M-Instruct.Q4_1.gguf \
           models/gemma-3-270m-q4_k_m.gguf
Needs: pip install transformers gguf torch (transformers' GGUF reader imports torch); cargo.
"""

import json
import os
import subprocess
import sys
import tempfile


def ours(gguf):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "ids.json")
        env = dict(os.environ, OOCR_TOKENIZER_GGUF=os.path.abspath(gguf), OOCR_TOKENIZER_IDS_OUT=out)
        subprocess.run(
            ["cargo", "test", "-q", "-p", "oocr-llm", "--test", "tokenizers", "--",
             "--ignored", "--exact", "dump_gguf_tokenizer_ids", "--nocapture"],
            check=True, env=env,
        )
        return json.load(open(out, encoding="utf-8"))


def main():
    from transformers import AutoTokenizer

    paths = sys.argv[1:]
    if not paths:
        sys.exit(__doc__)
    all_ok = True
    for gguf in paths:
        rows = ours(gguf)
        ref = AutoTokenizer.from_pretrained(os.path.dirname(os.path.abspath(gguf)), gguf_file=os.path.basename(gguf))
        bad = []
        for r in rows:
            w = ref(r["text"], add_special_tokens=True)["input_ids"]
            wo = ref(r["text"], add_special_tokens=False)["input_ids"]
            if w != r["ids_with_special"] or wo != r["ids_without_special"]:
                bad.append((r, w, wo))
        print(f"{gguf}: {type(ref).__name__}; {len(rows) - len(bad)}/{len(rows)} strings give the same ids "
              f"with and without special tokens")
        for r, w, wo in bad[:10]:
            print(f"  {r['text']!r}: ours {r['ids_with_special']} / {r['ids_without_special']}, "
                  f"transformers {w} / {wo}")
        all_ok &= not bad
    sys.exit(0 if all_ok else 1)


if __name__ == "__main__":
    main()
