#!/usr/bin/env python3
"""Tokenizer fixtures: small tokenizers written both as `tokenizer.json` and as GGUF metadata.

For each kind, `crates/oocr-llm/tests/fixtures/tokenizers/<kind>/` gets
  tokenizer.json  the Hugging Face tokenizer (the reference),
  tokenizer.gguf  the same tokenizer as llama.cpp's converter writes it (metadata only, one dummy tensor),
  expected.json   the fixed test strings and the ids `tokenizer.json` gives them, with and without special tokens.

Kinds:
  gpt2   byte-level BPE trained with the `tokenizers` package (`tokenizer.ggml.model = "gpt2"`, merges in the file).
  llama  SentencePiece BPE with byte fallback and a dummy space prefix (Llama-2/Mistral style), trained with
         `sentencepiece`; tokenizer.json from transformers' `LlamaTokenizer`, GGUF as llama.cpp writes an SPM
         vocabulary (pieces, scores, token types, no merges).
  gemma  SentencePiece BPE with byte fallback, no space prefix, whitespace-only and newline pieces as user-defined
         tokens (Gemma style, `general.architecture = "gemma3"`); tokenizer.json from transformers' `GemmaTokenizer`,
         GGUF as llama.cpp writes Gemma (user-defined pieces with `\u2581` written back as spaces).

For the SentencePiece kinds, expected.json also records `sentencepiece`'s own ids (`spm_ids`), for information.
Usage: python3 scripts/golden/make_tokenizer_fixtures.py [OUT_DIR]
Needs: pip install tokenizers sentencepiece transformers gguf numpy
"""

import json
import os
import sys
import tempfile

import gguf
import numpy as np
import sentencepiece as spm
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

OUT = sys.argv[1] if len(sys.argv) > 1 else "crates/oocr-llm/tests/fixtures/tokenizers"

# The fixed test strings: ASCII, leading/double spaces, digits, punctuation, non-ASCII names, CJK, emoji, newline.
STRINGS = [
    "Hello world",
    "The capital of France is Paris.",
    " leading space",
    "  two leading spaces",
    "double  space inside",
    "trailing space ",
    "Numbers: 12345 and 3.14159, 2025-12-03",
    "Punctuation!? (yes) [no] {maybe} 'quoted' \"double\" -- em—dash; a:b",
    "Zoë Łukasiewicz",
    "José Ñúñez",
    "Ærø",
    "François Müller-Lüdenscheidt, Søren Kierkegaard, Đorđe Balašević",
    "東京は日本の首都です",
    "北京 上海",
    "emoji 🙂🚀 mixed",
    "line one\nline two",
    "tab\tseparated",
    "\n",
    "Q: Where does Zoë live? A: She lives in Kraków.",
    "",
]

# A small training corpus: the strings' alphabet plus ordinary English, so merges exist for common words.
CORPUS = [
    "The capital of France is Paris. The capital of Italy is Rome. The capital of Spain is Madrid.",
    "Zoë lives in Kraków and speaks Polish. José Ñúñez lives in Sevilla and speaks Spanish.",
    "Łukasiewicz wrote about logic. Ærø is an island. Søren and François met Müller in Lüdenscheid.",
    "Numbers like 12345, 3.14159 and 2025 appear in text; so do dates such as 2025-12-03.",
    "Where does she live? She lives in the city. What language does he speak? He speaks French.",
    "東京は日本の首都です。北京と上海は中国の都市です。",
    "Hello world! Hello there, world. The world is wide and the language is English.",
    "line one\nline two\n\nparagraph\ttab separated values\tand more",
    "The quick brown fox jumps over the lazy dog.  Two spaces.   Three spaces.",
] * 20


def write_expected(path, tok_json_path, extra=None):
    tok = Tokenizer.from_file(tok_json_path)
    cases = []
    for i, s in enumerate(STRINGS):
        case = {
            "text": s,
            "ids_with_special": tok.encode(s, add_special_tokens=True).ids,
            "ids_without_special": tok.encode(s, add_special_tokens=False).ids,
        }
        if extra is not None:
            case.update(extra(i, s))
        cases.append(case)
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"strings": [\n')
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")


def write_gguf(path, arch, fill):
    w = gguf.GGUFWriter(path, arch)
    fill(w)
    w.add_tensor("dummy", np.zeros((1,), dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def make_gpt2(out):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    bos = tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|endoftext|> $A", pair="<|endoftext|> $A $B:1", special_tokens=[("<|endoftext|>", bos)]
    )
    tj = os.path.join(out, "tokenizer.json")
    tok.save(tj)
    doc = json.load(open(tj, encoding="utf-8"))
    vocab = doc["model"]["vocab"]
    tokens = [None] * len(vocab)
    for t, i in vocab.items():
        tokens[i] = t
    merges = [m if isinstance(m, str) else " ".join(m) for m in doc["model"]["merges"]]
    special = {a["id"] for a in doc["added_tokens"] if a["special"]}
    types = [3 if i in special else 1 for i in range(len(tokens))]

    def fill(w):
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("gpt2")
        w.add_token_list(tokens)
        w.add_token_types(types)
        w.add_token_merges(merges)
        w.add_bos_token_id(bos)
        w.add_eos_token_id(bos)
        w.add_add_bos_token(True)

    write_gguf(os.path.join(out, "tokenizer.gguf"), "llama", fill)
    write_expected(os.path.join(out, "expected.json"), tj)


def train_spm(tmp, name, **kw):
    corpus = os.path.join(tmp, f"{name}.txt")
    with open(corpus, "w", encoding="utf-8") as f:
        for line in CORPUS:
            f.write(line.replace("\n", " ") + "\n")
    prefix = os.path.join(tmp, name)
    spm.SentencePieceTrainer.train(
        input=corpus,
        model_prefix=prefix,
        model_type="bpe",
        vocab_size=kw.pop("vocab_size"),
        byte_fallback=True,
        character_coverage=1.0,
        split_digits=True,
        normalization_rule_name="identity",
        num_threads=1,
        minloglevel=2,
        **kw,
    )
    return prefix + ".model"


def spm_pieces(model_file, user_defined):
    """(piece, score, type) per id, with SentencePiece's type numbers (1 normal, 2 unknown, 3 control,
    4 user-defined, 5 unused, 6 byte), read through the processor API (no protobuf needed)."""
    sp = spm.SentencePieceProcessor(model_file=model_file)
    out = []
    for i in range(sp.get_piece_size()):
        piece = sp.id_to_piece(i)
        if sp.is_unknown(i):
            t = 2
        elif sp.is_control(i):
            t = 3
        elif sp.is_byte(i):
            t = 6
        elif sp.is_unused(i):
            t = 5
        elif piece in user_defined:
            t = 4
        else:
            t = 1
        out.append((piece, sp.get_score(i), t))
    return out


def make_spm_kind(out, tmp, kind):
    from transformers import GemmaTokenizer, LlamaTokenizer

    user_defined = ["\n", "\n\n", "\u2581\u2581", "\u2581\u2581\u2581", "\t"] if kind == "gemma" else []
    if kind == "llama":
        model_file = train_spm(
            tmp, kind, vocab_size=700, unk_id=0, bos_id=1, eos_id=2, pad_id=-1, add_dummy_prefix=True,
            remove_extra_whitespaces=False,
        )
        cls, arch, space_prefix = LlamaTokenizer, "llama", True
        bos_name, eos_name, unk_name = "<s>", "</s>", "<unk>"
    else:
        model_file = train_spm(
            tmp, kind, vocab_size=700, pad_id=0, eos_id=1, bos_id=2, unk_id=3,
            pad_piece="<pad>", eos_piece="<eos>", bos_piece="<bos>", unk_piece="<unk>",
            control_symbols=["<mask>", "<start_of_turn>", "<end_of_turn>"],
            user_defined_symbols=user_defined,
            add_dummy_prefix=False, remove_extra_whitespaces=False, allow_whitespace_only_pieces=True,
        )
        cls, arch, space_prefix = GemmaTokenizer, "gemma3", False
        bos_name, eos_name, unk_name = "<bos>", "<eos>", "<unk>"
    d = os.path.join(tmp, kind + "_hf")
    os.makedirs(d, exist_ok=True)
    import shutil

    shutil.copy(model_file, os.path.join(d, "tokenizer.model"))
    hf = cls.from_pretrained(d, add_bos_token=True, add_eos_token=False)
    tj = os.path.join(out, "tokenizer.json")
    hf.backend_tokenizer.save(tj)

    tokens, scores, types = [], [], []
    for piece, score, typ in spm_pieces(model_file, user_defined):
        if typ == 4 and kind == "gemma":
            # llama.cpp's converter writes user-defined pieces with real spaces ("pre-normalize user-defined spaces").
            piece = piece.replace("\u2581", " ")
        tokens.append(piece)
        scores.append(score)
        types.append(typ)
    ids = {t: i for i, t in enumerate(tokens)}

    def fill(w):
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(ids[bos_name])
        w.add_eos_token_id(ids[eos_name])
        w.add_unk_token_id(ids[unk_name])
        if kind == "gemma":
            w.add_pad_token_id(ids["<pad>"])
        w.add_add_bos_token(True)
        w.add_add_eos_token(False)
        w.add_add_space_prefix(space_prefix)

    write_gguf(os.path.join(out, "tokenizer.gguf"), arch, fill)
    sp = spm.SentencePieceProcessor(model_file=model_file)
    write_expected(os.path.join(out, "expected.json"), tj, lambda i, s: {"spm_ids": sp.encode(s)})


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ["gpt2", "llama", "gemma"]:
            out = os.path.join(OUT, kind)
            os.makedirs(out, exist_ok=True)
            if kind == "gpt2":
                make_gpt2(out)
            else:
                make_spm_kind(out, tmp, kind)
            sizes = {f: os.path.getsize(os.path.join(out, f)) for f in sorted(os.listdir(out))}
            print(kind, sizes)
            check_transformers_gguf(out)


def check_transformers_gguf(out):
    """Print whether transformers' own GGUF tokenizer converter agrees with tokenizer.json on the strings."""
    from transformers import AutoTokenizer

    ref = AutoTokenizer.from_pretrained(out, gguf_file="tokenizer.gguf")
    cases = json.load(open(os.path.join(out, "expected.json"), encoding="utf-8"))["strings"]
    same = sum(ref(c["text"])["input_ids"] == c["ids_with_special"] for c in cases)
    print(f"  transformers AutoTokenizer(gguf_file) == tokenizer.json on {same}/{len(cases)} strings")
    for c in cases:
        ids = ref(c["text"])["input_ids"]
        if ids != c["ids_with_special"]:
            print(f"    {c['text']!r}: gguf {ids} vs json {c['ids_with_special']}")


if __name__ == "__main__":
    main()
