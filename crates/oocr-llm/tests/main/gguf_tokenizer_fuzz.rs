//! Bounded fuzz run of GGUF tokenizer metadata → `TextTokenizer::from_gguf`: a fixed number of
//! seeded random metadata maps (well-formed, truncated, mistyped and hostile values mixed), run by
//! `cargo test` (cargo-fuzz needs a nightly toolchain). Every case must return `Ok` or an error,
//! never panic; a tokenizer that builds must encode text to ids of its vocabulary.

use candle_core::quantized::gguf_file::{Content, Value, VersionedMagic};
use oocr_llm::tokenizer::TextTokenizer;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::Path;

/// Cases per run, and the seed: fixed, so a failure replays exactly.
const CASES: u64 = 400;
const SEED: u64 = 0x6767_7566;

const PIECES: &[&str] = &[
    "a",
    "b",
    "ab",
    "Ġ",
    "Ġa",
    "Ġthe",
    "the",
    "<|endoftext|>",
    "<s>",
    "</s>",
    "",
    " ",
    "Ċ",
    "é",
    "日本",
    "\u{0}",
    "\u{fffd}",
    "ĠParis",
    "1",
    "12",
    "\\",
    "\"",
    "{",
    "}",
];
const MODELS: &[&str] = &["gpt2", "llama", "bert", "", "GPT2"];
const PRES: &[&str] = &[
    "default",
    "gpt2",
    "smollm",
    "starcoder",
    "llama-bpe",
    "llama3",
    "qwen2",
    "unknown",
    "",
];

fn token(r: &mut ChaCha8Rng) -> String {
    if r.random_bool(0.8) {
        PIECES[r.random_range(0..PIECES.len())].to_string()
    } else {
        let len = r.random_range(0..6);
        (0..len)
            .map(|_| char::from_u32(r.random_range(0..0x3000)).unwrap_or('x'))
            .collect()
    }
}

fn merge(r: &mut ChaCha8Rng) -> String {
    match r.random_range(0..10) {
        0 => token(r),
        1 => format!("{} {} {}", token(r), token(r), token(r)),
        2 => String::new(),
        _ => format!("{} {}", token(r), token(r)),
    }
}

/// A random value of any GGUF type (the mistyped cases).
fn any_value(r: &mut ChaCha8Rng, depth: u32) -> Value {
    match r.random_range(0..if depth > 0 { 8 } else { 9 }) {
        0 => Value::U8(r.random()),
        1 => Value::I32(r.random()),
        2 => Value::U32(r.random()),
        3 => Value::I64(r.random()),
        4 => Value::U64(r.random()),
        5 => Value::F32(r.random()),
        6 => Value::Bool(r.random()),
        7 => Value::String(token(r)),
        _ => Value::Array((0..r.random_range(0..4)).map(|_| any_value(r, 1)).collect()),
    }
}

fn int_value(r: &mut ChaCha8Rng, below: u64) -> Value {
    let x = if r.random_bool(0.7) {
        r.random_range(0..below.max(1))
    } else {
        r.random()
    };
    match r.random_range(0..5) {
        0 => Value::U32(x as u32),
        1 => Value::I32(x as i32),
        2 => Value::U64(x),
        3 => Value::I64(x as i64),
        _ => Value::I64(-(x as i64 & 0xffff)),
    }
}

fn metadata(r: &mut ChaCha8Rng) -> HashMap<String, Value> {
    let mut m = HashMap::new();
    let mistyped = |r: &mut ChaCha8Rng| r.random_bool(0.1);
    let n_tokens = r.random_range(0..40);
    let tokens: Vec<Value> = (0..n_tokens).map(|_| Value::String(token(r))).collect();
    if r.random_bool(0.95) {
        let v = if mistyped(r) {
            any_value(r, 0)
        } else {
            Value::String(MODELS[r.random_range(0..MODELS.len())].into())
        };
        m.insert("tokenizer.ggml.model".into(), v);
    }
    if r.random_bool(0.95) {
        let v = if mistyped(r) {
            any_value(r, 0)
        } else {
            Value::Array(tokens)
        };
        m.insert("tokenizer.ggml.tokens".into(), v);
    }
    if r.random_bool(0.95) {
        let v = if mistyped(r) {
            any_value(r, 0)
        } else {
            Value::Array(
                (0..r.random_range(0..30))
                    .map(|_| Value::String(merge(r)))
                    .collect(),
            )
        };
        m.insert("tokenizer.ggml.merges".into(), v);
    }
    if r.random_bool(0.6) {
        let v = if mistyped(r) {
            any_value(r, 0)
        } else {
            Value::Array(
                (0..r.random_range(0..n_tokens + 3))
                    .map(|_| int_value(r, 6))
                    .collect(),
            )
        };
        m.insert("tokenizer.ggml.token_type".into(), v);
    }
    if r.random_bool(0.8) {
        let v = if mistyped(r) {
            any_value(r, 0)
        } else {
            Value::String(PRES[r.random_range(0..PRES.len())].into())
        };
        m.insert("tokenizer.ggml.pre".into(), v);
    }
    if r.random_bool(0.6) {
        let v = if mistyped(r) {
            any_value(r, 0)
        } else {
            Value::Bool(r.random())
        };
        m.insert("tokenizer.ggml.add_bos_token".into(), v);
    }
    if r.random_bool(0.6) {
        m.insert(
            "tokenizer.ggml.bos_token_id".into(),
            int_value(r, n_tokens as u64 + 2),
        );
    }
    if r.random_bool(0.3) {
        m.insert(token(r), any_value(r, 0));
    }
    m
}

#[test]
fn gguf_tokenizer_metadata_never_panics() {
    let path = Path::new("fuzz.gguf");
    let (mut built, mut refused) = (0, 0);
    for case in 0..CASES {
        let mut r = ChaCha8Rng::seed_from_u64(SEED ^ case);
        let content = Content {
            magic: VersionedMagic::GgufV3,
            metadata: metadata(&mut r),
            tensor_infos: HashMap::new(),
            tensor_data_offset: 0,
        };
        let n_tokens = match content.metadata.get("tokenizer.ggml.tokens") {
            Some(Value::Array(a)) => a.len(),
            _ => 0,
        };
        let outcome = std::panic::catch_unwind(|| match TextTokenizer::from_gguf(&content, path) {
            Ok(tok) => {
                for text in ["a", "the ab", "Paris, 12 é", ""] {
                    if let Ok(ids) = tok.encode_continuation(text) {
                        assert!(
                            ids.iter().all(|&i| (i as usize) < n_tokens.max(1)),
                            "case {case}: ids {ids:?} outside {n_tokens} tokens"
                        );
                        let _ = tok.decode(&ids);
                    }
                    let _ = tok.encode_prompt(text);
                }
                true
            }
            Err(e) => {
                assert!(!e.to_string().is_empty(), "case {case}: empty error");
                false
            }
        });
        match outcome {
            Ok(true) => built += 1,
            Ok(false) => refused += 1,
            Err(p) => {
                eprintln!("case {case} (seed {SEED:#x} ^ {case}) panicked");
                std::panic::resume_unwind(p)
            }
        }
    }
    eprintln!("{CASES} cases: {built} tokenizers built, {refused} refused");
    assert_eq!(built + refused, CASES as usize);
}
