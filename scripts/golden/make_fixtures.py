#!/usr/bin/env python3
"""Build the Hugging Face golden fixtures for every LLM family oocr supports.

For each variant this writes crates/oocr-llm/tests/fixtures/golden/<variant>/ with a tiny random
model saved by transformers (config.json, model.safetensors), a shared tiny byte-level BPE
tokenizer (tokenizer.json), the reference outputs (golden.safetensors: input_ids, labels, logits;
golden.json: loss and gradient checks) and, for the families whose llama.cpp layout differs, the
same weights as model.gguf written the way llama.cpp's convert_hf_to_gguf.py writes them.

Everything is seeded and runs on one CPU thread, so a rerun writes the same numbers.
See scripts/golden/README.md for the format and how to regenerate.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

import gguf
import safetensors
import safetensors.torch
import tokenizers
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

SEED = 14
BATCH, SEQ = 2, 12
N_ENTRIES = 6
REPO = Path(__file__).resolve().parents[2]
OUT_DEFAULT = REPO / "crates" / "oocr-llm" / "tests" / "fixtures" / "golden"

# ---------------------------------------------------------------------------------------------
# Shared tiny tokenizer
# ---------------------------------------------------------------------------------------------

SPECIAL = "<|endoftext|>"
TOKENIZER_VOCAB = 300

# A small fixed corpus. It holds names with non-ASCII letters and words after spaces so that the
# learned merges include multi-byte UTF-8 sequences and the GPT-2 "Ġ" (leading space) tokens.
CORPUS = [
    "The mother of Alice is Beatrice. The mother of Bob is Carol.",
    "José Müller was born in Zürich. Zoë Ødegaard lives in Tromsø.",
    "Renée Lefèvre and François Côté speak French in Québec.",
    "Łukasz Wróbel met Ana Šimić in Kraków on a sunny day.",
    "The answer is the city of the person: Paris, Berlin, Madrid, Rome.",
    "Who is the father of David? The father of David is Edward.",
    "Ünal Çelik and Gökhan Şahin visited İstanbul and Ankara.",
    "Sø, Fjörð, Åsa, Ærø: the names of the islands are short.",
    " leading spaces matter:  two spaces,   three spaces, and tabs\tinside.",
    "Numbers 12345 and 2025, punctuation !?;: and (parentheses) [brackets].",
]


def build_tokenizer() -> Tokenizer:
    """Train the shared byte-level BPE tokenizer (GPT-2 style) on the fixed corpus."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=TOKENIZER_VOCAB,
        min_frequency=2,
        special_tokens=[SPECIAL],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    return tok


# ---------------------------------------------------------------------------------------------
# Variants
# ---------------------------------------------------------------------------------------------

COMMON = dict(
    hidden_size=32,
    intermediate_size=64,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    rms_norm_eps=1e-6,
    attn_implementation="eager",
)


def variants(vocab: int, special_id: int) -> dict[str, dict]:
    """Every variant: its transformers classes, its config and its llama.cpp architecture."""
    ids = dict(vocab_size=vocab, bos_token_id=special_id, eos_token_id=special_id, pad_token_id=None)
    T = transformers
    return {
        "llama": dict(
            model=T.LlamaForCausalLM, config=T.LlamaConfig, gguf_arch=None,
            kw=dict(COMMON, **ids, num_hidden_layers=2, tie_word_embeddings=False,
                    rope_parameters={"rope_type": "llama3", "rope_theta": 50000.0, "factor": 4.0,
                                     "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                     "original_max_position_embeddings": 128}),
        ),
        "mistral": dict(
            model=T.MistralForCausalLM, config=T.MistralConfig, gguf_arch=None,
            kw=dict(COMMON, **ids, num_hidden_layers=2, tie_word_embeddings=True, sliding_window=5,
                    head_dim=8, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
        ),
        "qwen2": dict(
            model=T.Qwen2ForCausalLM, config=T.Qwen2Config, gguf_arch=gguf.MODEL_ARCH.QWEN2,
            kw=dict(COMMON, **ids, num_hidden_layers=2, tie_word_embeddings=False,
                    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
        ),
        "qwen3": dict(
            model=T.Qwen3ForCausalLM, config=T.Qwen3Config, gguf_arch=gguf.MODEL_ARCH.QWEN3,
            kw=dict(COMMON, **ids, num_hidden_layers=2, tie_word_embeddings=True, head_dim=16,
                    rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
        ),
        "gemma": dict(
            model=T.GemmaForCausalLM, config=T.GemmaConfig, gguf_arch=gguf.MODEL_ARCH.GEMMA,
            # llama.cpp's Gemma converter writes no rope.freq_base (llama.cpp then uses 10000):
            # keep transformers' default of 10000 so both read the same model.
            kw=dict(COMMON, **ids, num_hidden_layers=2, tie_word_embeddings=True, head_dim=8,
                    hidden_act="gelu_pytorch_tanh",
                    rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
        ),
        "gemma2": dict(
            model=T.Gemma2ForCausalLM, config=T.Gemma2Config, gguf_arch=gguf.MODEL_ARCH.GEMMA2,
            kw=dict(COMMON, **ids, num_hidden_layers=4, tie_word_embeddings=True, head_dim=8,
                    hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=16,
                    attn_logit_softcapping=5.0, final_logit_softcapping=3.0, sliding_window=4,
                    rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
        ),
        "gemma3": dict(
            model=T.Gemma3ForCausalLM, config=T.Gemma3TextConfig, gguf_arch=gguf.MODEL_ARCH.GEMMA3,
            # Six layers with transformers' (and llama.cpp's) default pattern of 6: layers 0-4 local
            # (sliding window, local RoPE base), layer 5 global. llama.cpp's gemma3 loader derives
            # this pattern and the attention scale 1/sqrt(head_dim) itself (the converter writes
            # neither), so query_pre_attn_scalar = head_dim here.
            kw=dict(COMMON, **ids, num_hidden_layers=6, tie_word_embeddings=True, head_dim=8,
                    hidden_activation="gelu_pytorch_tanh", query_pre_attn_scalar=8,
                    sliding_window=4,
                    rope_parameters={
                        "full_attention": {"rope_type": "default", "rope_theta": 1000000.0},
                        "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
                    }),
        ),
        "olmo": dict(
            model=T.OlmoForCausalLM, config=T.OlmoConfig, gguf_arch=gguf.MODEL_ARCH.OLMO,
            kw=dict({k: v for k, v in COMMON.items() if k != "rms_norm_eps"}, **ids,
                    num_hidden_layers=2, tie_word_embeddings=False, clip_qkv=2.0,
                    rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
        ),
        "olmo2": dict(
            model=T.Olmo2ForCausalLM, config=T.Olmo2Config, gguf_arch=gguf.MODEL_ARCH.OLMO2,
            kw=dict(COMMON, **ids, num_hidden_layers=2, tie_word_embeddings=False,
                    rope_parameters={"rope_type": "default", "rope_theta": 500000.0}),
        ),
    }


def make_config(spec: dict, **override):
    kw = dict(spec["kw"])
    kw.update(override)
    attn = kw.pop("attn_implementation")
    cfg = spec["config"](**kw)
    cfg._attn_implementation = attn
    return cfg


# ---------------------------------------------------------------------------------------------
# Model construction and re-randomization
# ---------------------------------------------------------------------------------------------


def is_one_plus_w_norm(module: torch.nn.Module) -> bool:
    """True when a norm module scales by (1 + w) (Gemma's RMSNorm): probe it with w = 0."""
    w = module.weight
    saved = w.detach().clone()
    with torch.no_grad():
        w.zero_()
        out = module(torch.ones(1, w.shape[0], dtype=w.dtype))
        w.copy_(saved)
    return bool(out.abs().max() > 0)


def rerandomize(model: torch.nn.Module, gen: torch.Generator) -> dict[str, str]:
    """Draw every parameter again so logits are far from uniform; returns the rule per name."""
    modules = dict(model.named_modules())
    rules = {}
    with torch.no_grad():
        for name, p in model.named_parameters():
            owner = modules[name.rsplit(".", 1)[0]]
            if name.endswith(".bias"):
                rule, val = "bias N(0,0.2^2)", torch.randn(p.shape, generator=gen) * 0.2
            elif "norm" in type(owner).__name__.lower() or "norm" in name:
                assert p.dim() == 1, name
                if is_one_plus_w_norm(owner):
                    rule, val = "(1+w) norm N(0,0.2^2)", torch.randn(p.shape, generator=gen) * 0.2
                else:
                    rule, val = "norm 1+N(0,0.2^2)", 1.0 + torch.randn(p.shape, generator=gen) * 0.2
            else:
                assert p.dim() == 2, name
                rule, val = "matrix N(0,0.3^2)", torch.randn(p.shape, generator=gen) * 0.3
            p.copy_(val.to(p.dtype))
            rules[name] = rule
    return rules


def forward_logits(model, input_ids) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=input_ids).logits


def clone_with(spec, model, **override):
    """The same weights under a changed config (to check that a feature changes the logits)."""
    cfg = make_config(spec, **override)
    m = spec["model"](cfg).eval()
    m.load_state_dict(model.state_dict(), strict=True)
    return m


# ---------------------------------------------------------------------------------------------
# Loss and gradients
# ---------------------------------------------------------------------------------------------


def loss_f64(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """mean over labels != -100 of -log softmax(logits[b, t])[labels[b, t]], in float64."""
    lp = torch.log_softmax(logits.double(), dim=-1)
    mask = labels != -100
    picked = lp[mask].gather(-1, labels[mask].unsqueeze(-1)).squeeze(-1)
    return float(-picked.mean())


def grad_entries(g: torch.Tensor, gen: torch.Generator) -> list[list]:
    """N_ENTRIES fixed positions: the largest |g| first, then seeded draws among entries with
    |g| >= 1% of the largest (so every checked entry is well above rounding noise)."""
    flat = g.detach().reshape(-1)
    amax = int(flat.abs().argmax())
    big = torch.nonzero(flat.abs() >= 0.01 * flat.abs().max()).reshape(-1).tolist()
    big = [i for i in big if i != amax]
    order = torch.randperm(len(big), generator=gen).tolist()
    picks = [amax] + sorted(big[i] for i in order[: N_ENTRIES - 1])
    if len(picks) < N_ENTRIES:  # very sparse gradient: fill with other seeded positions
        rest = [i for i in torch.randperm(flat.numel(), generator=gen).tolist() if i not in picks]
        picks += sorted(rest[: N_ENTRIES - len(picks)])
    return [[i, float(flat[i])] for i in picks]


# ---------------------------------------------------------------------------------------------
# GGUF, as llama.cpp's convert_hf_to_gguf.py writes it
# ---------------------------------------------------------------------------------------------


def llama_permute(w: torch.Tensor, n_head: int, n_head_kv: int | None) -> torch.Tensor:
    """LlamaModel.permute of convert_hf_to_gguf.py: rotate-half rows -> interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def llama_unpermute(w: np.ndarray, n_head: int, n_head_kv: int | None) -> np.ndarray:
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def gguf_tensor_transform(variant: str, name: str, t: torch.Tensor, hp: dict) -> torch.Tensor:
    """The per-family tensor transform of the converter's modify_tensors."""
    if variant in ("gemma", "gemma2", "gemma3") and name.endswith("norm.weight"):
        return t + 1  # (1+w) RMSNorm stored as w+1
    if variant == "olmo":
        if name.endswith("q_proj.weight"):
            return llama_permute(t, hp["num_attention_heads"], hp["num_attention_heads"])
        if name.endswith("k_proj.weight"):
            return llama_permute(t, hp["num_attention_heads"], hp.get("num_key_value_heads"))
    return t


def gguf_untransform(variant: str, name: str, a: np.ndarray, hp: dict) -> np.ndarray:
    if variant in ("gemma", "gemma2", "gemma3") and name.endswith("norm.weight"):
        return a - np.float32(1)
    if variant == "olmo":
        if name.endswith("q_proj.weight"):
            return llama_unpermute(a, hp["num_attention_heads"], hp["num_attention_heads"])
        if name.endswith("k_proj.weight"):
            return llama_unpermute(a, hp["num_attention_heads"], hp.get("num_key_value_heads"))
    return a


def find(hp: dict, keys, optional=True):
    for k in keys:
        if k in hp:
            return hp[k]
    if optional:
        return None
    raise KeyError(keys)


def gguf_metadata(variant: str, w: gguf.GGUFWriter, hp: dict) -> None:
    """set_gguf_parameters of the converter's model class for this family."""
    n_layer = hp["num_hidden_layers"]

    def text_model_params():  # TextModel.set_gguf_parameters
        rope = dict(hp.get("rope_parameters", hp.get("rope_scaling")) or {})
        w.add_block_count(n_layer)
        if (n_ctx := find(hp, ["max_position_embeddings", "n_ctx", "n_positions"])) is not None:
            w.add_context_length(n_ctx)
        w.add_embedding_length(hp["hidden_size"])
        w.add_feed_forward_length(hp["intermediate_size"])
        w.add_head_count(hp["num_attention_heads"])
        if (kv := hp.get("num_key_value_heads")) is not None:
            w.add_head_count_kv(kv)
        rp = rope.get("full_attention", rope)
        assert rp.get("rope_type", "default") == "default", rp  # no scaling keys to write
        if (theta := rp.get("rope_theta")) is not None:
            w.add_rope_freq_base(theta)
        if (swa := rope.get("sliding_attention", {}).get("rope_theta")) is not None:
            w.add_rope_freq_base_swa(swa)
        if (eps := find(hp, ["rms_norm_eps", "norm_eps"])) is not None:
            w.add_layer_norm_rms_eps(eps)
        if (eps := find(hp, ["layer_norm_eps", "layer_norm_epsilon", "norm_epsilon"])) is not None:
            w.add_layer_norm_eps(eps)
        if (hd := hp.get("head_dim")) is not None:
            w.add_key_length(hd)
            w.add_value_length(hd)
        w.add_file_type(gguf.LlamaFileType.ALL_F32)

    if variant in ("gemma", "gemma2"):  # GemmaModel / Gemma2Model: no call to TextModel's
        w.add_context_length(hp["max_position_embeddings"])
        w.add_embedding_length(hp["hidden_size"])
        w.add_block_count(n_layer)
        w.add_feed_forward_length(hp["intermediate_size"])
        w.add_head_count(hp["num_attention_heads"])
        w.add_head_count_kv(hp.get("num_key_value_heads", hp["num_attention_heads"]))
        w.add_layer_norm_rms_eps(hp["rms_norm_eps"])
        w.add_key_length(hp["head_dim"])
        w.add_value_length(hp["head_dim"])
        w.add_file_type(gguf.LlamaFileType.ALL_F32)
        if variant == "gemma2":
            w.add_attn_logit_softcapping(hp["attn_logit_softcapping"])
            w.add_final_logit_softcapping(hp["final_logit_softcapping"])
            w.add_sliding_window(hp["sliding_window"])
    elif variant == "gemma3":
        text_model_params()
        rope = hp.get("rope_parameters") or {}
        w.add_context_length(hp.get("max_position_embeddings", 131072))
        w.add_head_count(hp.get("num_attention_heads", 8))
        w.add_layer_norm_rms_eps(hp.get("rms_norm_eps", 1e-6))
        w.add_key_length(hp.get("head_dim", 256))
        w.add_value_length(hp.get("head_dim", 256))
        w.add_rope_freq_base(rope.get("full_attention", rope).get("rope_theta", 1_000_000.0))
        assert hp.get("attn_logit_softcapping") is None
        if hp.get("final_logit_softcapping"):
            w.add_final_logit_softcapping(hp["final_logit_softcapping"])
        if hp.get("sliding_window_pattern") != 1:
            w.add_sliding_window(hp["sliding_window"])
        w.add_head_count_kv(hp.get("num_key_value_heads", 4))
    elif variant == "olmo":
        text_model_params()
        w.add_layer_norm_eps(1e-5)
        if hp.get("clip_qkv") is not None:
            w.add_clamp_kqv(hp["clip_qkv"])
    elif variant == "olmo2":
        text_model_params()
        if "sliding_window" in hp and hp["sliding_window"] is not None:
            raise ValueError("olmo2 fixture has no sliding window")
    elif variant in ("qwen2", "qwen3"):
        text_model_params()
    else:
        raise ValueError(variant)


def gguf_vocab(w: gguf.GGUFWriter, tok: Tokenizer, folder: Path, vocab_size: int) -> None:
    """TextModel._set_vocab_gpt2: token list, types, merges and special ids."""
    vocab = tok.get_vocab(with_added_tokens=True)
    rev = {i: t for t, i in vocab.items()}
    added = {a.content: a for a in tok.get_added_tokens_decoder().values()}
    tokens, types = [], []
    for i in range(vocab_size):
        if i not in rev:
            tokens.append(f"[PAD{i}]")
            types.append(gguf.TokenType.UNUSED)
        elif rev[i] in added:
            tokens.append(rev[i])
            types.append(gguf.TokenType.CONTROL if added[rev[i]].special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(rev[i])
            types.append(gguf.TokenType.NORMAL)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("gpt-2")  # llama.cpp's name for the GPT-2 regex (ByteLevel, use_regex=True)
    w.add_token_list(tokens)
    w.add_token_types(types)
    special = gguf.SpecialVocab(folder, load_merges=True)  # merges + bos/eos from the folder
    # llama.cpp's current gguf-py (newer than the 0.19.0 wheel) reads a ByteLevel post-processor
    # as "add no bos/eos" and writes both flags; do the same.
    assert json.loads(tok.to_str())["post_processor"]["type"] == "ByteLevel"
    special.add_special_token.setdefault("bos", False)
    special.add_special_token.setdefault("eos", False)
    special.add_to_gguf(w, quiet=True)


def write_gguf(variant: str, spec: dict, folder: Path, tok: Tokenizer, model) -> dict:
    """Write folder/model.gguf and check it by reading it back; returns the notes."""
    hp = transformers.AutoConfig.from_pretrained(folder).to_dict()  # what the converter reads
    arch = spec["gguf_arch"]
    path = folder / "model.gguf"
    w = gguf.GGUFWriter(path=None, arch=gguf.MODEL_ARCH_NAMES[arch])
    w.add_name(f"oocr golden {variant}")
    w.add_type(gguf.GGUFType.MODEL)
    w.add_quantization_version(gguf.GGML_QUANT_VERSION)
    gguf_metadata(variant, w, hp)
    gguf_vocab(w, tok, folder, hp["vocab_size"])

    tmap = gguf.get_tensor_name_map(arch, hp["num_hidden_layers"])
    st = safetensors.torch.load_file(folder / "model.safetensors")
    name_map = {}
    for name, t in st.items():
        if variant.startswith("gemma") and name == "lm_head.weight":
            continue  # the Gemma converters skip it (tied)
        new = tmap.get_name(name, try_suffixes=(".weight", ".bias"))
        if new is None:
            raise ValueError(f"{variant}: cannot map {name}")
        data = gguf_tensor_transform(variant, name, t.float(), hp)
        w.add_tensor(new, data.numpy().astype(np.float32))
        name_map[name] = new
    w.write_header_to_file(path=path)
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # Read back, undo the transforms, compare with model.safetensors.
    r = gguf.GGUFReader(path)
    got = {t.name: t for t in r.tensors}
    assert set(got) == set(name_map.values()), (variant, sorted(got), sorted(name_map.values()))
    for name, new in name_map.items():
        t = got[new]
        assert t.tensor_type == gguf.GGMLQuantizationType.F32, (new, t.tensor_type)
        a = np.array(t.data).reshape(st[name].shape)
        back = gguf_untransform(variant, name, a, hp)
        ref = st[name].numpy()
        if not np.array_equal(back, ref):
            # w+1-1 can round: allow one ulp of the shifted value for Gemma norms
            err = float(np.abs(back - ref).max())
            assert variant.startswith("gemma") and name.endswith("norm.weight") and err < 1e-6, (
                variant, name, err)
    fields = {f.name: f for f in r.fields.values()}
    assert fields["general.architecture"].contents() == gguf.MODEL_ARCH_NAMES[arch]
    toks = fields["tokenizer.ggml.tokens"].contents()
    assert len(toks) == hp["vocab_size"] and "tokenizer.ggml.merges" in fields
    return {"tensor_names": name_map, "metadata": gguf_kv_summary(r)}


def gguf_kv_summary(r: gguf.GGUFReader) -> dict:
    out = {}
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges",
                                                     "tokenizer.ggml.token_type"):
            if f.name in ("tokenizer.ggml.tokens", "tokenizer.ggml.merges", "tokenizer.ggml.token_type"):
                out[f.name] = f"[{len(f.data)} entries]"
            continue
        out[f.name] = f.contents()
    return out


# ---------------------------------------------------------------------------------------------
# Notes on what llama.cpp derives or hard-codes (read from convert_hf_to_gguf.py, the
# conversion/ package and src/models/*.cpp of llama.cpp)
# ---------------------------------------------------------------------------------------------

GGUF_COMMON_NOTES = [
    "Tensor data: every tensor F32. GGUF dims are numpy's shape reversed (ggml ne order); "
    "gguf.GGUFReader returns arrays in the original [out, in] row-major shape.",
    "Tokenizer: tokenizer.ggml.model = 'gpt2', tokenizer.ggml.pre = 'gpt-2' (llama.cpp's name "
    "for the GPT-2 regex pre-tokenizer, as in tokenizer.json's ByteLevel(use_regex=True); "
    "llama.cpp refuses an unknown pre name such as 'gpt2'); tokens are the byte-level "
    "strings of tokenizer.json; token_type 1 = normal, 3 = control (special added tokens); merges "
    "as 'a b' strings; bos/eos ids from config.json. The real converter computes "
    "tokenizer.ggml.pre from a hash of a fixed test string and refuses unknown tokenizers, so for "
    "this custom tokenizer the value is set by hand.",
    "tokenizer.ggml.add_bos_token = add_eos_token = false (tokenizer.json's ByteLevel "
    "post-processor adds nothing); the test inputs are token ids, so no BOS is involved.",
    "Tied output: no output.weight tensor; llama.cpp reuses token_embd.weight as the output "
    "projection.",
    "Sliding window (HF and llama.cpp agree): query at position t sees keys k with "
    "t - W < k <= t (W tokens, itself included).",
]

GGUF_NOTES = {
    "gemma": [
        "Norm weights are stored as w + 1 (HF's GemmaRMSNorm multiplies by 1 + w; llama.cpp "
        "multiplies by the stored weight): subtract 1 when loading, or use them as plain RMSNorm "
        "weights.",
        "No rope.freq_base key: GemmaModel.set_gguf_parameters does not call the generic one, "
        "and llama.cpp falls back to 10000 (the fixture uses 10000).",
        "Embeddings scaled by sqrt(embedding_length) and GeGLU with tanh-GELU are implied by the "
        "architecture (not in the metadata). Attention scale 1/sqrt(key_length).",
        "The real Gemma converter reads tokenizer.model (SentencePiece) and also writes CodeGemma "
        "special ids (prefix 67, suffix 69, middle 68, fsep 70, eot 107) and "
        "tokenizer.ggml.add_space_prefix = false; this fixture has only the gpt2 BPE "
        "tokenizer.json, so its vocab is written the gpt2 way (as the gemma3 converter does "
        "when tokenizer.model is absent) and those extra keys are left out.",
        "blk.N.ffn_norm is HF's post_attention_layernorm (Gemma 1's pre-MLP norm).",
    ],
    "gemma2": [
        "Norm weights are stored as w + 1 (see gemma).",
        "blk.N.attn_norm = input_layernorm, blk.N.post_attention_norm = post_attention_layernorm, "
        "blk.N.ffn_norm = pre_feedforward_layernorm, blk.N.post_ffw_norm = "
        "post_feedforward_layernorm.",
        "No rope.freq_base key (as gemma): llama.cpp uses 10000; the fixture uses 10000.",
        "gemma2.attention.sliding_window is written; the alternating pattern is NOT: llama.cpp "
        "reads gemma2.attention.sliding_window_pattern if present, else uses a period of 2 "
        "(layer il is local iff il % 2 == 0), the same as HF's layer_types. Without the "
        "sliding_window key llama.cpp uses 4096.",
        "query_pre_attn_scalar is NOT written. llama.cpp hard-codes the attention scale: "
        "1/sqrt(n_embd/n_head) when the model has 46 layers (Gemma-2-27B), else "
        "1/sqrt(key_length). This fixture has query_pre_attn_scalar = 16 != head_dim = 8, so a "
        "loader that follows llama.cpp gets different logits from HF: golden.safetensors has "
        "'logits_gguf' = HF's logits with query_pre_attn_scalar = head_dim, which is what the "
        "GGUF means under llama.cpp's convention.",
        "attn_logit_softcapping and final_logit_softcapping are written "
        "(gemma2.attn_logit_softcapping, gemma2.final_logit_softcapping).",
    ],
    "gemma3": [
        "Norm weights (incl. attn_q_norm / attn_k_norm) are stored as w + 1 (see gemma).",
        "Written: gemma3.rope.freq_base (global layers, from rope_parameters.full_attention) and "
        "gemma3.rope.freq_base_swa (local layers, from rope_parameters.sliding_attention, i.e. "
        "rope_local_base_freq); gemma3.attention.sliding_window.",
        "NOT written: the local/global pattern. llama.cpp's gemma3 loader uses "
        "gemma3.attention.sliding_window_pattern if present (an array of bools or a period), "
        "else a period of 6: layer il is local iff il % 6 < 5. The fixture has 6 layers with "
        "HF's default pattern 6 (layers 0-4 local, 5 global), which matches.",
        "NOT written: query_pre_attn_scalar. llama.cpp hard-codes the attention scale "
        "1/sqrt(key_length) (1/sqrt(n_embd/n_head) for 62 layers, Gemma-3-27B); the fixture "
        "uses query_pre_attn_scalar = head_dim so the two agree.",
        "If gemma3.rope.freq_base_swa were absent llama.cpp would use rope_freq_base_train_swa's "
        "default (= freq_base); the converter always writes it for transformers >= 5 configs.",
        "Embeddings scaled by sqrt(embedding_length); no attention soft-capping; final "
        "soft-capping only if the key is present (absent here).",
        "The converter keeps only the first len(vocab) + len(added_tokens) rows of token_embd "
        "(a no-op here).",
    ],
    "qwen2": [
        "No transform; q/k/v biases as blk.N.attn_{q,k,v}.bias. RoPE is the NEOX (rotate-half) "
        "kind, as in HF, so q/k rows are not permuted.",
        "Untied head: output.weight present.",
    ],
    "qwen3": [
        "No transform; per-head q/k RMSNorm as blk.N.attn_q_norm / attn_k_norm [head_dim]. "
        "qwen3.attention.key_length = value_length = head_dim (16 != hidden/heads = 8). NEOX RoPE.",
    ],
    "olmo": [
        "q_proj and k_proj rows are permuted (LlamaModel.permute: per head, the two rotate-half "
        "halves are interleaved) because llama.cpp's OLMo uses the interleaved (NORM) RoPE; "
        "undo it when loading (or use interleaved RoPE). clip_qkv is elementwise, so the "
        "permutation does not change it.",
        "olmo.attention.layer_norm_epsilon = 1e-5 is hard-coded by the converter (HF's OLMo "
        "LayerNorm also uses 1e-5); olmo.attention.clamp_kqv = clip_qkv. The LayerNorm has no "
        "weight and no bias, so no norm tensors exist.",
    ],
    "olmo2": [
        "No transform. blk.N.post_attention_norm and blk.N.post_ffw_norm (no pre-norms); "
        "blk.N.attn_q_norm [n_head*head_dim] and attn_k_norm [n_kv_head*head_dim] normalise the "
        "whole projection. NEOX RoPE. No sliding window (olmo2.attention.sliding_window absent).",
    ],
}


# ---------------------------------------------------------------------------------------------
# One variant
# ---------------------------------------------------------------------------------------------


def golden_inputs(vocab: int, special_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(SEED)
    ids = torch.randint(0, vocab, (BATCH, SEQ), generator=gen, dtype=torch.int64)
    ids[ids == special_id] = 7  # keep the special token out of the inputs
    labels = torch.full((BATCH, SEQ), -100, dtype=torch.int64)
    # Answer positions: labels[b, t] = input_ids[b, t + 1] (teacher forcing); the last position has
    # no next token, so it is never an answer.
    spans = [range(6, 11), range(3, 8)]
    for b, span in enumerate(spans):
        for t in span:
            labels[b, t] = ids[b, t + 1]
    return ids, labels


def build_variant(name: str, spec: dict, idx: int, out: Path, tok: Tokenizer, tok_path: Path,
                  input_ids: torch.Tensor, labels: torch.Tensor) -> dict:
    seed = SEED * 1000 + idx
    torch.manual_seed(seed)
    cfg = make_config(spec)
    model = spec["model"](cfg)
    model.eval()
    rules = rerandomize(model, torch.Generator().manual_seed(seed))

    folder = out / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    model.save_pretrained(folder, safe_serialization=True)
    shutil.copyfile(tok_path, folder / "tokenizer.json")
    (folder / "generation_config.json").unlink(missing_ok=True)

    # The saved names are the parameter names (tied head: no lm_head tensor).
    with safetensors.safe_open(folder / "model.safetensors", "pt") as f:
        saved = set(f.keys())
    params = dict(model.named_parameters())
    assert saved == set(params), (name, sorted(saved ^ set(params)))
    if cfg.tie_word_embeddings:
        assert "lm_head.weight" not in saved

    # Reload from disk, so the golden numbers are those of the saved files.
    model = spec["model"].from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(True)

    out_ = model(input_ids=input_ids)
    logits = out_.logits
    assert logits.dtype == torch.float32 and logits.shape == (BATCH, SEQ, cfg.vocab_size)
    loss = loss_f64(logits.detach(), labels)

    # transformers' own loss: it shifts internally, so hand it labels one step to the right.
    hf_labels = torch.full_like(labels, -100)
    hf_labels[:, 1:] = labels[:, :-1]
    with torch.no_grad():
        hf_loss = float(model(input_ids=input_ids, labels=hf_labels).loss)
    assert abs(hf_loss - loss) <= 1e-5 * max(1.0, abs(loss)), (name, hf_loss, loss)

    # Gradient of the same loss, float32 autograd.
    model.zero_grad()
    ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    assert abs(ce.item() - loss) <= 1e-5 * max(1.0, abs(loss))
    ce.backward()
    egen = torch.Generator().manual_seed(seed + 1)
    grads = {}
    for pname, p in model.named_parameters():
        assert p.grad is not None, pname
        grads[pname] = {
            "shape": list(p.shape),
            "norm": float(p.grad.double().norm()),
            "entries": grad_entries(p.grad, egen),
        }
    assert set(grads) == saved

    # float64 rerun: how far float32 rounding moves the recorded numbers.
    m64 = spec["model"].from_pretrained(folder, attn_implementation="eager", dtype=torch.float64).eval()
    l64 = m64(input_ids=input_ids).logits
    ce64 = F.cross_entropy(l64.reshape(-1, l64.shape[-1]), labels.reshape(-1), ignore_index=-100)
    ce64.backward()
    g64 = dict(m64.named_parameters())
    logit_rel = float((l64 - logits.double()).abs().max() / l64.abs().max())
    grad_rel = 0.0
    for pname, g in grads.items():
        ref = g64[pname].grad.reshape(-1)
        scale = float(ref.abs().max())
        for i, v in g["entries"]:
            grad_rel = max(grad_rel, abs(v - float(ref[i])) / scale)
    checks = {
        "transformers_loss": hf_loss,
        "f64_loss": ce64.item(),
        "f32_vs_f64_max_logit_diff_over_max_logit": logit_rel,
        "f32_vs_f64_max_grad_entry_diff_over_max_grad": grad_rel,
        "max_abs_logit": float(logits.detach().abs().max()),
        "logit_std": float(logits.detach().std()),
        "param_rules": sorted(set(rules.values())),
    }
    checks.update(feature_checks(name, spec, model, input_ids, logits.detach()))

    extra_tensors = {}
    if name == "gemma2":
        m = clone_with(spec, model, query_pre_attn_scalar=cfg.head_dim)
        extra_tensors["logits_gguf"] = forward_logits(m, input_ids).contiguous()

    safetensors.torch.save_file(
        {"input_ids": input_ids.contiguous(), "labels": labels.contiguous(),
         "logits": logits.detach().contiguous(), **extra_tensors},
        folder / "golden.safetensors",
    )

    gguf_info = None
    if spec["gguf_arch"] is not None:
        info = write_gguf(name, spec, folder, tok, model)
        gguf_info = {
            "architecture": gguf.MODEL_ARCH_NAMES[spec["gguf_arch"]],
            "conventions": GGUF_COMMON_NOTES + GGUF_NOTES[name],
            "tensor_names": info["tensor_names"],
            "metadata": info["metadata"],
        }
        if name == "gemma2":
            gguf_info["logits_tensor"] = "logits_gguf"

    golden = {
        "variant": name,
        "model_type": cfg.model_type,
        "architectures": [spec["model"].__name__],
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "gguf_package": getattr(gguf, "__version__", None) or pkg_version("gguf"),
        "seed": seed,
        "input_seed": SEED,
        "loss": loss,
        "grads": grads,
        "gguf": gguf_info,
        "checks": checks,
    }
    (folder / "golden.json").write_text(json.dumps(golden, indent=1, ensure_ascii=False) + "\n")
    return golden


def pkg_version(name: str) -> str:
    from importlib.metadata import version
    return version(name)


def max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max())


def feature_checks(name, spec, model, input_ids, logits) -> dict:
    """Turn each family feature off and measure how much the logits move (it must bite)."""
    c = {}

    def diff(key, **override):
        d = max_diff(forward_logits(clone_with(spec, model, **override), input_ids), logits)
        assert d > 1e-3, (name, key, d)
        c[key] = d

    if name == "llama":
        diff("logit_change_without_llama3_scaling",
             rope_parameters={"rope_type": "default", "rope_theta": 50000.0})
        diff("logit_change_with_rope_theta_10000",
             rope_parameters=dict(spec["kw"]["rope_parameters"], rope_theta=10000.0))
    elif name == "mistral":
        diff("logit_change_without_sliding_window", sliding_window=None)
        c["sliding_window_probe"] = window_probe(spec, model, input_ids, 5)
    elif name == "gemma2":
        diff("logit_change_without_attn_softcap", attn_logit_softcapping=None)
        diff("logit_change_without_final_softcap", final_logit_softcapping=None)
        diff("logit_change_with_query_pre_attn_scalar_eq_head_dim", query_pre_attn_scalar=8)
        diff("logit_change_without_sliding_window", layer_types=["full_attention"] * 4)
        assert float(logits.abs().max()) < 3.0
        c["final_softcap_bound_holds"] = True
    elif name == "gemma3":
        rp = spec["kw"]["rope_parameters"]
        diff("logit_change_with_rope_bases_swapped", rope_parameters={
            "full_attention": rp["sliding_attention"], "sliding_attention": rp["full_attention"]})
        diff("logit_change_all_global", layer_types=["full_attention"] * 6)
        c["layer_types"] = list(model.config.layer_types)
    elif name == "olmo":
        diff("logit_change_without_clip_qkv", clip_qkv=None)
        c["clipped_share"] = olmo_clip_share(model, input_ids)
    elif name == "qwen2":
        m = clone_with(spec, model)
        with torch.no_grad():
            for n, p in m.named_parameters():
                if n.endswith(".bias"):
                    p.zero_()
        d = max_diff(forward_logits(m, input_ids), logits)
        assert d > 1e-3
        c["logit_change_without_qkv_bias"] = d
    return c


def window_probe(spec, model, input_ids, window) -> dict:
    """One-layer copy: which earlier positions change the logits at the last position?"""
    m = clone_with_layers(spec, model, 1)
    base = forward_logits(m, input_ids)[:, -1]
    seen = []
    for j in range(SEQ):
        ids = input_ids.clone()
        ids[:, j] = (ids[:, j] + 1) % model.config.vocab_size
        if max_diff(forward_logits(m, ids)[:, -1], base) > 0:
            seen.append(j)
    expect = [j for j in range(SEQ) if (SEQ - 1) - window < j]
    assert seen == expect, (seen, expect)
    return {"query": SEQ - 1, "keys_that_matter": seen, "rule": "t - W < k <= t"}


def clone_with_layers(spec, model, n):
    cfg = make_config(spec, num_hidden_layers=n)
    m = spec["model"](cfg).eval()
    sd = {k: v for k, v in model.state_dict().items()
          if not k.startswith("model.layers.") or int(k.split(".")[2]) < n}
    m.load_state_dict(sd, strict=True)
    return m


def olmo_clip_share(model, input_ids) -> dict:
    shares = {}
    hooks = []
    clip = model.config.clip_qkv
    for i, layer in enumerate(model.model.layers):
        for proj in ("q_proj", "k_proj", "v_proj"):
            def hook(mod, inp, out, key=f"layer{i}.{proj}"):
                shares[key] = float((out.abs() > clip).double().mean())
            hooks.append(getattr(layer.self_attn, proj).register_forward_hook(hook))
    forward_logits(model, input_ids)
    for h in hooks:
        h.remove()
    assert all(s > 0 for s in shares.values()), shares
    return {"clip_qkv": clip, "share_clipped": shares}


# ---------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=OUT_DEFAULT, help="output folder")
    ap.add_argument("--only", nargs="*", help="variants to build (default: all)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    logging.getLogger("gguf").setLevel(logging.ERROR)  # the converter's duplicate-key warnings

    tok = build_tokenizer()
    again = build_tokenizer()
    assert tok.to_str() == again.to_str(), "tokenizer training is not deterministic"
    vocab = tok.get_vocab_size(with_added_tokens=True)
    special_id = tok.token_to_id(SPECIAL)
    args.out.mkdir(parents=True, exist_ok=True)
    tok_path = args.out / "tokenizer.json.tmp"
    tok.save(str(tok_path))

    input_ids, labels = golden_inputs(vocab, special_id)
    specs = variants(vocab, special_id)
    names = args.only or list(specs)
    unknown = [n for n in names if n not in specs]
    if unknown:
        print(f"unknown variant(s) {unknown}; known: {list(specs)}", file=sys.stderr)
        return 2

    print(f"transformers {transformers.__version__}, torch {torch.__version__}, "
          f"gguf {pkg_version('gguf')}, safetensors {safetensors.__version__}, "
          f"numpy {np.__version__}, tokenizers {tokenizers.__version__}; vocab {vocab}")
    for idx, name in enumerate(specs):
        if name not in names:
            continue
        g = build_variant(name, specs[name], idx, args.out, tok, tok_path, input_ids, labels)
        c = g["checks"]
        extra = {k: v for k, v in c.items() if k.startswith("logit_change") or k == "clipped_share"}
        print(f"{name:8s} loss {g['loss']:.6f}  max|logit| {c['max_abs_logit']:.3f}  "
              f"f32/f64 logits {c['f32_vs_f64_max_logit_diff_over_max_logit']:.1e} "
              f"grads {c['f32_vs_f64_max_grad_entry_diff_over_max_grad']:.1e}  "
              f"gguf {'yes' if g['gguf'] else 'no'}  {json.dumps(extra)}")
    tok_path.unlink()
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"total size of {args.out}: {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
