#!/usr/bin/env python3
"""Compare each fixture's model.gguf with what llama.cpp's own convert_hf_to_gguf.py writes.

Runs the real converter (`--outtype f32`) from a llama.cpp source tree on every fixture folder that
has a model.gguf, then compares tensor names, types and bytes, and every metadata key. Two patches
are needed because the fixtures use a custom tiny tokenizer; they are printed, not hidden:
  - TextModel.get_vocab_base_pre returns "gpt-2" (the converter identifies known tokenizers by a hash
    and refuses others);
  - GemmaModel/Gemma2Model.set_vocab use the gpt2 path (the real ones need a SentencePiece
    tokenizer.model, which the fixtures do not have).
A tokenizer_config.json naming PreTrainedTokenizerFast is added to the converter's copy of each folder
(otherwise AutoTokenizer picks the family's tokenizer class, which adds tokens of its own).

    python scripts/golden/crosscheck_llamacpp.py --llama-cpp /path/to/llama.cpp

A llama.cpp tree can come from the llama-cpp-python source distribution on PyPI (its
vendor/llama.cpp folder), e.g. `pip download --no-deps --no-binary :all: llama-cpp-python==0.3.36`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
OUT_DEFAULT = REPO / "crates" / "oocr-llm" / "tests" / "fixtures" / "golden"

RUNNER = r"""
import runpy, sys
from pathlib import Path
llama_cpp = Path(sys.argv[1])
sys.path.insert(0, str(llama_cpp / "gguf-py"))
sys.path.insert(0, str(llama_cpp))
import conversion.base as base
base.TextModel.get_vocab_base_pre = lambda self, tokenizer: "gpt-2"
import conversion.gemma as gemma
gemma.GemmaModel.set_vocab = lambda self: self._set_vocab_gpt2()
gemma.Gemma2Model.set_vocab = lambda self: self._set_vocab_gpt2()
sys.argv = [str(llama_cpp / "convert_hf_to_gguf.py")] + sys.argv[2:]
runpy.run_path(sys.argv[0], run_name="__main__")
"""

# Keys that only name the file (the converter derives them from the folder name and size).
NAMING = ("general.name", "general.basename", "general.size_label", "general.finetune",
          "general.version", "general.type")


def read(path: Path):
    import gguf
    r = gguf.GGUFReader(path)
    kv = {f.name: f.contents() for f in r.fields.values() if not f.name.startswith("GGUF.")}
    tensors = {t.name: (t.tensor_type.name, np.array(t.data)) for t in r.tensors}
    return kv, tensors


def compare(folder: Path, llama_cpp: Path, work: Path) -> list[str]:
    src = work / folder.name
    shutil.copytree(folder, src)
    (src / "model.gguf").unlink()
    # Without tokenizer_config.json, AutoTokenizer picks the family's tokenizer class (e.g. Gemma's),
    # which adds its own special tokens; name the plain fast tokenizer instead.
    (src / "tokenizer_config.json").write_text('{"tokenizer_class": "PreTrainedTokenizerFast"}')
    out = work / f"{folder.name}.gguf"
    proc = subprocess.run(
        [sys.executable, "-c", RUNNER, str(llama_cpp), str(src), "--outtype", "f32",
         "--outfile", str(out)], capture_output=True, text=True)
    if proc.returncode != 0:
        return [f"converter failed:\n{proc.stderr[-3000:]}"]
    mine_kv, mine_t = read(folder / "model.gguf")
    ref_kv, ref_t = read(out)
    problems = []
    if set(mine_t) != set(ref_t):
        problems.append(f"tensor names differ: only mine {sorted(set(mine_t) - set(ref_t))}, "
                        f"only converter {sorted(set(ref_t) - set(mine_t))}")
    for name in sorted(set(mine_t) & set(ref_t)):
        (mt, md), (rt, rd) = mine_t[name], ref_t[name]
        if mt != rt or md.shape != rd.shape or not np.array_equal(md, rd):
            problems.append(f"tensor {name}: mine {mt} {md.shape}, converter {rt} {rd.shape}, "
                            f"max diff {np.abs(md.astype(np.float64) - rd).max() if md.shape == rd.shape else '-'}")
    for key in sorted(set(mine_kv) | set(ref_kv)):
        if key in NAMING:
            continue
        a, b = mine_kv.get(key, "<absent>"), ref_kv.get(key, "<absent>")
        if isinstance(a, float) or isinstance(b, float):
            same = a == b or (isinstance(a, float) and isinstance(b, float) and np.float32(a) == np.float32(b))
        else:
            same = a == b
        if not same:
            show = lambda v: (f"[{len(v)} entries]" if isinstance(v, list) and len(v) > 8 else v)  # noqa: E731
            problems.append(f"key {key}: mine {show(a)!r}, converter {show(b)!r}")
    return problems


TOKENIZER_STRINGS = [
    "The mother of Alice is Beatrice.",
    " José Müller was born in Zürich.",
    "  two leading spaces and Zoë Ødegaard",
    "Łukasz Wróbel, Ana Šimić, Ünal Çelik, İstanbul",
    "Renée Lefèvre et François Côté à Québec",
    "Tromsø Åsa Ærø Fjörð 北京 Δελφοί",
    "numbers 12345 2025, tabs\tand\nnewlines!?",
    " leading space",
    "<|endoftext|> is special",
]


def llamacpp_logits(folder: Path) -> dict:
    """Run model.gguf through llama.cpp itself (the llama_cpp Python bindings, f32 KV cache, no
    flash attention, one thread) and compare its logits with the transformers ones (gemma2: with
    logits_gguf); also compare its tokenizer with tokenizer.json on TOKENIZER_STRINGS."""
    import llama_cpp
    import safetensors.torch
    import tokenizers

    gold = safetensors.torch.load_file(folder / "golden.safetensors")
    golden = json.loads((folder / "golden.json").read_text())
    key = golden["gguf"].get("logits_tensor", "logits")
    ref = gold[key].double().numpy()
    llm = llama_cpp.Llama(model_path=str(folder / "model.gguf"), n_ctx=32, n_batch=32, n_ubatch=32,
                          logits_all=True, n_threads=1, verbose=False, flash_attn=False,
                          type_k=0, type_v=0)  # GGML_TYPE_F32 KV cache (default f16 rounds ~1e-3)
    worst = 0.0
    for b, row in enumerate(gold["input_ids"].tolist()):
        llm.reset()
        llm.eval(row)
        got = np.array(llm.scores[: len(row)], dtype=np.float64)
        worst = max(worst, float(np.abs(got - ref[b]).max() / np.abs(ref[b]).max()))
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    mismatches = []
    for text in TOKENIZER_STRINGS:
        mine = tok.encode(text, add_special_tokens=False).ids
        # special=True: parse added tokens such as <|endoftext|>, as tokenizer.json does
        theirs = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        if mine != theirs:
            mismatches.append({"text": text, "tokenizer.json": mine, "llama.cpp": theirs})
    return {"vs": key, "max_rel_logit_diff": worst, "tokenizer_mismatches": mismatches}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--llama-cpp", type=Path, required=True, help="llama.cpp source tree")
    ap.add_argument("--dir", type=Path, default=OUT_DEFAULT)
    ap.add_argument("--logits", action="store_true",
                    help="also run each model.gguf through llama.cpp (needs llama-cpp-python)")
    args = ap.parse_args()
    conv = args.llama_cpp / "convert_hf_to_gguf.py"
    if not conv.is_file():
        print(f"--llama-cpp {args.llama_cpp}: no convert_hf_to_gguf.py there", file=sys.stderr)
        return 2
    folders = sorted(p for p in args.dir.iterdir() if (p / "model.gguf").is_file())
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for folder in folders:
            problems = compare(folder, args.llama_cpp, Path(tmp))
            if problems:
                failed += 1
                print(f"DIFF {folder.name}:")
                for p in problems:
                    print(f"     {p}")
            else:
                print(f"same {folder.name}: every tensor byte and metadata key (except naming) equal")
    print(json.dumps({"same": len(folders) - failed, "different": failed}))
    if args.logits:
        for folder in folders:
            res = llamacpp_logits(folder)
            # ggml's CPU GELU rounds its input to f16 and reads a table (GGML_GELU_FP16), so the
            # Gemma families (GeGLU) can only agree to ~1e-3; the others agree to ~1e-6.
            tol = 3e-3 if folder.name.startswith("gemma") else 1e-5
            ok = res["max_rel_logit_diff"] < tol and not res["tokenizer_mismatches"]
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {folder.name}: llama.cpp logits vs {res['vs']}: max "
                  f"|diff| / max |logit| = {res['max_rel_logit_diff']:.2e}; tokenizer mismatches: "
                  f"{json.dumps(res['tokenizer_mismatches'], ensure_ascii=False)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
