#!/usr/bin/env python3
"""Self-check of the golden fixtures written by make_fixtures.py.

For every folder under crates/oocr-llm/tests/fixtures/golden/ this reloads the model with
transformers and recomputes, from golden.safetensors' inputs, the logits, the loss and the
recorded gradient entries. Where a model.gguf exists, it also rebuilds the model from the GGUF
alone (its metadata and tensors, read with llama.cpp's conventions as golden.json["gguf"] lists
them) and checks that it gives the same logits: the reference for a GGUF loader.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import gguf
import safetensors.torch
import tokenizers
import transformers

REPO = Path(__file__).resolve().parents[2]
OUT_DEFAULT = REPO / "crates" / "oocr-llm" / "tests" / "fixtures" / "golden"
FILES = ["config.json", "model.safetensors", "tokenizer.json", "golden.safetensors", "golden.json"]


def load_model(folder: Path, dtype=torch.float32):
    cfg = json.loads((folder / "config.json").read_text())
    cls = getattr(transformers, cfg["architectures"][0])
    return cls.from_pretrained(folder, attn_implementation="eager", dtype=dtype).eval()


def loss_f64(logits, labels) -> float:
    lp = torch.log_softmax(logits.double(), dim=-1)
    mask = labels != -100
    return float(-lp[mask].gather(-1, labels[mask].unsqueeze(-1)).mean())


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


# ---------------------------------------------------------------------------------------------
# Rebuild a transformers model from model.gguf alone, with llama.cpp's conventions
# ---------------------------------------------------------------------------------------------

GGUF_ARCH = {
    "gemma": ("GemmaForCausalLM", "GemmaConfig"),
    "gemma2": ("Gemma2ForCausalLM", "Gemma2Config"),
    "gemma3": ("Gemma3ForCausalLM", "Gemma3TextConfig"),
    "qwen2": ("Qwen2ForCausalLM", "Qwen2Config"),
    "qwen3": ("Qwen3ForCausalLM", "Qwen3Config"),
    "olmo": ("OlmoForCausalLM", "OlmoConfig"),
    "olmo2": ("Olmo2ForCausalLM", "Olmo2Config"),
}

# GGUF tensor name (after blk.N.) -> transformers name (after model.layers.N.), per family.
COMMON_BLK = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_q_norm": "self_attn.q_norm",
    "attn_k_norm": "self_attn.k_norm",
}
BLK = {
    "gemma": {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"},
    "gemma2": {"attn_norm": "input_layernorm", "post_attention_norm": "post_attention_layernorm",
               "ffn_norm": "pre_feedforward_layernorm", "post_ffw_norm": "post_feedforward_layernorm"},
    "qwen2": {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"},
    "olmo": {},
    "olmo2": {"post_attention_norm": "post_attention_layernorm",
              "post_ffw_norm": "post_feedforward_layernorm"},
}
BLK["gemma3"] = BLK["gemma2"]
BLK["qwen3"] = BLK["qwen2"]


def unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    """Inverse of convert_hf_to_gguf.py's LlamaModel.permute (interleaved -> rotate-half rows)."""
    return w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def model_from_gguf(path: Path):
    r = gguf.GGUFReader(path)
    kv = {f.name: f.contents() for f in r.fields.values() if not f.name.startswith("GGUF.")}
    arch = kv["general.architecture"]
    a = lambda key, default=None: kv.get(f"{arch}.{key}", default)  # noqa: E731
    tensors = {t.name: np.array(t.data).reshape(tuple(int(x) for x in reversed(t.shape)))
               for t in r.tensors}
    n_layer, n_embd, n_head = a("block_count"), a("embedding_length"), a("attention.head_count")
    n_kv = a("attention.head_count_kv", n_head)
    head_dim = a("attention.key_length", n_embd // n_head)
    vocab = len(kv["tokenizer.ggml.tokens"])
    cfg = dict(
        vocab_size=vocab, hidden_size=n_embd, num_hidden_layers=n_layer,
        intermediate_size=a("feed_forward_length"), num_attention_heads=n_head,
        num_key_value_heads=n_kv, max_position_embeddings=a("context_length"),
        tie_word_embeddings="output.weight" not in tensors,
        bos_token_id=kv.get("tokenizer.ggml.bos_token_id"),
        eos_token_id=kv.get("tokenizer.ggml.eos_token_id"), pad_token_id=None,
        # llama.cpp's default when rope.freq_base is absent (the Gemma 1/2 converters omit it)
        rope_parameters={"rope_type": "default", "rope_theta": float(a("rope.freq_base", 10000.0))},
    )
    if arch != "olmo":
        cfg["rms_norm_eps"] = a("attention.layer_norm_rms_epsilon")
    if arch in ("gemma", "gemma2", "gemma3", "qwen3"):
        cfg["head_dim"] = head_dim
    if arch == "gemma":
        cfg["hidden_act"] = "gelu_pytorch_tanh"
    if arch in ("gemma2", "gemma3"):
        cfg["hidden_activation"] = "gelu_pytorch_tanh"
        # llama.cpp: attention scale 1/sqrt(head_dim), except 1/sqrt(n_embd/n_head) for
        # Gemma-2-27B (46 layers) and Gemma-3-27B (62 layers); query_pre_attn_scalar is not stored
        big = n_layer == (46 if arch == "gemma2" else 62)
        cfg["query_pre_attn_scalar"] = n_embd // n_head if big else head_dim
        window = a("attention.sliding_window", 4096 if arch == "gemma2" else 0)
        pattern = a("attention.sliding_window_pattern", 2 if arch == "gemma2" else 6)
        if isinstance(pattern, list):
            local = [bool(x) for x in pattern]
        else:
            local = [il % pattern < pattern - 1 for il in range(n_layer)]
        if window:
            cfg["sliding_window"] = window
            cfg["layer_types"] = ["sliding_attention" if s else "full_attention" for s in local]
        else:
            cfg["layer_types"] = ["full_attention"] * n_layer
    if arch == "gemma2":
        cfg["attn_logit_softcapping"] = a("attn_logit_softcapping")
        cfg["final_logit_softcapping"] = a("final_logit_softcapping")
    if arch == "gemma3":
        cfg["final_logit_softcapping"] = a("final_logit_softcapping")
        base = float(a("rope.freq_base", 10000.0))
        cfg["rope_parameters"] = {
            "full_attention": {"rope_type": "default", "rope_theta": base},
            "sliding_attention": {"rope_type": "default",
                                  "rope_theta": float(a("rope.freq_base_swa", base))},
        }
    if arch == "olmo":
        cfg["clip_qkv"] = a("attention.clamp_kqv")

    model_cls, cfg_cls = GGUF_ARCH[arch]
    config = getattr(transformers, cfg_cls)(**cfg)
    config._attn_implementation = "eager"

    sd = {}
    blk = dict(COMMON_BLK, **BLK[arch])
    gemma = arch.startswith("gemma")
    for name, w in tensors.items():
        parts = name.split(".")
        if name == "token_embd.weight":
            hf = "model.embed_tokens.weight"
        elif name == "output_norm.weight":
            hf = "model.norm.weight"
        elif name == "output.weight":
            hf = "lm_head.weight"
        elif parts[0] == "blk":
            hf = f"model.layers.{parts[1]}.{blk[parts[2]]}.{parts[3]}"
        else:
            raise ValueError(f"{path}: unexpected tensor {name}")
        w = w.astype(np.float32)
        if gemma and name.endswith("norm.weight"):
            w = w - np.float32(1)  # stored as 1 + w
        if arch == "olmo" and name.endswith(("attn_q.weight", "attn_k.weight")):
            w = unpermute(w, n_head if ".attn_q." in name else n_kv)
        sd[hf] = torch.from_numpy(np.ascontiguousarray(w))
    if config.tie_word_embeddings:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]  # the same tensor in transformers
    model = getattr(transformers, model_cls)(config).eval()
    model.load_state_dict(sd, strict=True)
    return model, kv


# ---------------------------------------------------------------------------------------------


def check_folder(folder: Path) -> dict:
    missing = [f for f in FILES if not (folder / f).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {missing}")
    golden = json.loads((folder / "golden.json").read_text())
    gold = safetensors.torch.load_file(folder / "golden.safetensors")
    ids, labels, logits_ref = gold["input_ids"], gold["labels"], gold["logits"]
    assert ids.dtype == torch.int64 and labels.dtype == torch.int64 and logits_ref.dtype == torch.float32
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))

    model = load_model(folder)
    assert model.config.vocab_size == tok.get_vocab_size(with_added_tokens=True)
    assert logits_ref.shape == (*ids.shape, model.config.vocab_size)
    out = {}

    # 1. stored loss = loss of the stored logits (float64 log-softmax)
    stored = loss_f64(logits_ref, labels)
    assert abs(stored - golden["loss"]) < 1e-12, (stored, golden["loss"])

    # 2. fresh forward pass: logits and loss
    for p in model.parameters():
        p.requires_grad_(True)
    logits = model(input_ids=ids).logits
    out["logit_rel"] = rel(logits.detach(), logits_ref)
    assert out["logit_rel"] < 1e-6, out
    out["loss_diff"] = abs(loss_f64(logits.detach(), labels) - golden["loss"])
    assert out["loss_diff"] < 1e-6, out

    # 3. gradients: every parameter, named as in model.safetensors
    names = set(safetensors.torch.load_file(folder / "model.safetensors"))
    assert set(golden["grads"]) == names, sorted(set(golden["grads"]) ^ names)
    F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1)).backward()
    worst = 0.0
    for name, p in model.named_parameters():
        g = golden["grads"][name]
        assert list(p.shape) == g["shape"], name
        norm = float(p.grad.double().norm())
        assert abs(norm - g["norm"]) <= 1e-5 * g["norm"], (name, norm, g["norm"])
        flat = p.grad.reshape(-1)
        scale = float(flat.abs().max())
        assert len(g["entries"]) == 6 and int(flat.abs().argmax()) == g["entries"][0][0], name
        for i, v in g["entries"]:
            worst = max(worst, abs(float(flat[i]) - v) / scale)
    out["grad_entry_rel"] = worst
    assert worst < 1e-5, out

    # 4. GGUF: rebuilt from the file alone with llama.cpp's conventions
    if (folder / "model.gguf").is_file():
        assert golden["gguf"] is not None
        gmodel, kv = model_from_gguf(folder / "model.gguf")
        assert kv["tokenizer.ggml.model"] == "gpt2" and kv["tokenizer.ggml.pre"] == "gpt-2"
        assert list(kv["tokenizer.ggml.tokens"]) == [
            tok.id_to_token(i) for i in range(tok.get_vocab_size(with_added_tokens=True))]
        key = golden["gguf"].get("logits_tensor", "logits")
        with torch.no_grad():
            glogits = gmodel(input_ids=ids).logits
        out["gguf_logit_rel"] = rel(glogits, gold[key])
        out["gguf_vs"] = key
        assert out["gguf_logit_rel"] < 1e-6, out
    else:
        assert golden["gguf"] is None
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, default=OUT_DEFAULT)
    args = ap.parse_args()
    torch.set_num_threads(1)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("gguf").setLevel(logging.ERROR)

    folders = sorted(p for p in args.dir.iterdir() if p.is_dir())
    if not folders:
        print(f"no fixture folders under {args.dir}", file=sys.stderr)
        return 1
    failed = 0
    total = 0
    for folder in folders:
        total += sum(p.stat().st_size for p in folder.iterdir())
        try:
            res = check_folder(folder)
            print(f"ok   {folder.name:8s} " + "  ".join(
                f"{k} {v:.1e}" if isinstance(v, float) else f"{k} {v}" for k, v in res.items()))
        except Exception as e:  # report every folder, then fail
            failed += 1
            print(f"FAIL {folder.name}: {type(e).__name__}: {e}")
    print(f"{len(folders) - failed} passed, {failed} failed ({total} bytes)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
