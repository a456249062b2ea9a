//! A tiny random Llama-architecture model written to disk in both formats, for tests that need no
//! download: a byte-level BPE `tokenizer.json`, `config.json`, `model.safetensors`, and the same
//! weights as a GGUF file with llama.cpp's q/k permutation and the tokenizer in its metadata.
#![allow(dead_code)]
// The reference forward indexes like the formulas it transcribes.
#![allow(clippy::needless_range_loop)]
use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const HIDDEN: usize = 32;
pub const HEADS: usize = 4;
pub const KV_HEADS: usize = 2;
pub const HEAD_DIM: usize = 8;
pub const FF: usize = 64;
pub const LAYERS: usize = 2;
pub const VOCAB: usize = 272;
pub const THETA: f64 = 10_000.0;
pub const EPS: f64 = 1e-5;

/// Merges of the tiny BPE, in rank order.
pub const MERGES: [&str; 8] = ["Ġ P", "a r", "i s", "ĠP ar", "Ġ l", "i v", "Ġl iv", "e s"];

/// GPT-2's byte → printable character map.
pub fn byte_chars() -> Vec<char> {
    let mut bs: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut cs = bs.clone();
    let mut n = 0;
    for b in 0..256u32 {
        if !bs.contains(&b) {
            bs.push(b);
            cs.push(256 + n);
            n += 1;
        }
    }
    let mut out = vec![' '; 256];
    for (b, c) in bs.iter().zip(cs) {
        out[*b as usize] = char::from_u32(c).unwrap();
    }
    out
}

/// Token strings: `<|endoftext|>`, the 256 byte tokens in byte order, then one per merge.
pub fn tokens() -> Vec<String> {
    let mut t = vec!["<|endoftext|>".to_string()];
    t.extend(byte_chars().iter().map(|c| c.to_string()));
    t.extend(MERGES.iter().map(|m| m.replace(' ', "")));
    t
}

pub fn tokenizer_json() -> serde_json::Value {
    let vocab: serde_json::Map<String, serde_json::Value> = tokens()
        .into_iter()
        .enumerate()
        .map(|(i, t)| (t, serde_json::json!(i)))
        .collect();
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null,
        "added_tokens": [{"id": 0, "content": "<|endoftext|>", "single_word": false, "lstrip": false,
                          "rstrip": false, "normalized": false, "special": true}],
        "normalizer": null,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}]},
        "post_processor": null,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab, "merges": MERGES},
    })
}

/// Random weights under Hugging Face names (norm weights near 1, the rest ~U(-0.5, 0.5)).
pub fn weights(seed: u64, tied: bool) -> HashMap<String, Tensor> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut t = HashMap::new();
    let mut rand = |shape: &[usize], center: f32, width: f32| {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| center + width * (rng.random::<f32>() - 0.5))
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    };
    t.insert(
        "model.embed_tokens.weight".into(),
        rand(&[VOCAB, HIDDEN], 0.0, 1.0),
    );
    for i in 0..LAYERS {
        let p = format!("model.layers.{i}");
        for (n, shape) in [
            ("self_attn.q_proj", [HEADS * HEAD_DIM, HIDDEN]),
            ("self_attn.k_proj", [KV_HEADS * HEAD_DIM, HIDDEN]),
            ("self_attn.v_proj", [KV_HEADS * HEAD_DIM, HIDDEN]),
            ("self_attn.o_proj", [HIDDEN, HEADS * HEAD_DIM]),
            ("mlp.gate_proj", [FF, HIDDEN]),
            ("mlp.up_proj", [FF, HIDDEN]),
            ("mlp.down_proj", [HIDDEN, FF]),
        ] {
            t.insert(format!("{p}.{n}.weight"), rand(&shape, 0.0, 1.0));
        }
        t.insert(
            format!("{p}.input_layernorm.weight"),
            rand(&[HIDDEN], 1.0, 0.4),
        );
        t.insert(
            format!("{p}.post_attention_layernorm.weight"),
            rand(&[HIDDEN], 1.0, 0.4),
        );
    }
    t.insert("model.norm.weight".into(), rand(&[HIDDEN], 1.0, 0.4));
    if !tied {
        t.insert("lm_head.weight".into(), rand(&[VOCAB, HIDDEN], 0.0, 1.0));
    }
    t
}

pub fn config_json(tied: bool) -> serde_json::Value {
    serde_json::json!({
        "model_type": "llama", "vocab_size": VOCAB, "hidden_size": HIDDEN, "intermediate_size": FF,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "num_key_value_heads": KV_HEADS,
        "rms_norm_eps": EPS, "rope_theta": THETA, "tie_word_embeddings": tied, "hidden_act": "silu"
    })
}

/// Write a Hugging Face folder; returns its path.
pub fn write_hf(dir: &Path, seed: u64, tied: bool) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), config_json(tied).to_string()).unwrap();
    std::fs::write(dir.join("tokenizer.json"), tokenizer_json().to_string()).unwrap();
    candle_core::safetensors::save(&weights(seed, tied), dir.join("model.safetensors")).unwrap();
    dir.to_path_buf()
}

/// llama.cpp's `permute` (convert_hf_to_gguf.py): per head, rows (2, hd/2) → (hd/2, 2).
pub fn llama_cpp_permute(w: &Tensor, heads: usize) -> Tensor {
    let (rows, cols) = w.dims2().unwrap();
    w.reshape((heads, 2, rows / heads / 2, cols))
        .unwrap()
        .transpose(1, 2)
        .unwrap()
        .contiguous()
        .unwrap()
        .reshape((rows, cols))
        .unwrap()
}

/// GGUF name of a Hugging Face tensor name.
pub fn gguf_name(hf: &str) -> String {
    match hf {
        "model.embed_tokens.weight" => return "token_embd.weight".into(),
        "model.norm.weight" => return "output_norm.weight".into(),
        "lm_head.weight" => return "output.weight".into(),
        _ => {}
    }
    let rest = hf.strip_prefix("model.layers.").unwrap();
    let (layer, rest) = rest.split_once('.').unwrap();
    let module = rest.strip_suffix(".weight").unwrap();
    let g = match module {
        "input_layernorm" => "attn_norm",
        "post_attention_layernorm" => "ffn_norm",
        "self_attn.q_proj" => "attn_q",
        "self_attn.k_proj" => "attn_k",
        "self_attn.v_proj" => "attn_v",
        "self_attn.o_proj" => "attn_output",
        "mlp.gate_proj" => "ffn_gate",
        "mlp.up_proj" => "ffn_up",
        "mlp.down_proj" => "ffn_down",
        m => panic!("unknown module {m}"),
    };
    format!("blk.{layer}.{g}.weight")
}

/// Write the same weights as a GGUF file (f32 tensors, or `dtype`), tokenizer in the metadata.
pub fn write_gguf(path: &Path, seed: u64, tied: bool, dtype: GgmlDType) {
    let w = weights(seed, tied);
    let mut names: Vec<&String> = w.keys().collect();
    names.sort();
    let mut qt = Vec::new();
    for n in names {
        let mut t = w[n].clone();
        if n.contains("q_proj") {
            t = llama_cpp_permute(&t, HEADS);
        } else if n.contains("k_proj") {
            t = llama_cpp_permute(&t, KV_HEADS);
        }
        let dt = if t.rank() == 2 { dtype } else { GgmlDType::F32 };
        qt.push((gguf_name(n), QTensor::quantize(&t, dt).unwrap()));
    }
    let toks = tokens();
    let types: Vec<Value> = (0..toks.len())
        .map(|i| Value::I32(if i == 0 { 3 } else { 1 }))
        .collect();
    let md: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("llama".into())),
        ("general.name", Value::String("tiny-llama".into())),
        ("llama.block_count", Value::U32(LAYERS as u32)),
        ("llama.embedding_length", Value::U32(HIDDEN as u32)),
        ("llama.feed_forward_length", Value::U32(FF as u32)),
        ("llama.attention.head_count", Value::U32(HEADS as u32)),
        ("llama.attention.head_count_kv", Value::U32(KV_HEADS as u32)),
        ("llama.rope.freq_base", Value::F32(THETA as f32)),
        (
            "llama.attention.layer_norm_rms_epsilon",
            Value::F32(EPS as f32),
        ),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("smollm".into())),
        (
            "tokenizer.ggml.tokens",
            Value::Array(toks.into_iter().map(Value::String).collect()),
        ),
        (
            "tokenizer.ggml.merges",
            Value::Array(
                MERGES
                    .iter()
                    .map(|m| Value::String(m.to_string()))
                    .collect(),
            ),
        ),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        ("tokenizer.ggml.add_bos_token", Value::Bool(false)),
    ];
    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let qt_refs: Vec<(&str, &QTensor)> = qt.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut f = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut f, &md_refs, &qt_refs).unwrap();
}

/// Straightforward f64 reference forward of the Hugging Face Llama definition: logits of every
/// position of `ids`.
pub fn reference_logits(w: &HashMap<String, Tensor>, ids: &[u32], tied: bool) -> Vec<Vec<f64>> {
    let get = |n: &str| -> Vec<f64> {
        w[n].flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .into_iter()
            .map(f64::from)
            .collect()
    };
    let t = ids.len();
    let emb = get("model.embed_tokens.weight");
    let mut x: Vec<Vec<f64>> = ids
        .iter()
        .map(|&i| emb[i as usize * HIDDEN..(i as usize + 1) * HIDDEN].to_vec())
        .collect();
    let norm = |v: &[f64], g: &[f64]| -> Vec<f64> {
        let ms = v.iter().map(|a| a * a).sum::<f64>() / v.len() as f64;
        let r = 1.0 / (ms + EPS).sqrt();
        v.iter().zip(g).map(|(a, b)| a * r * b).collect()
    };
    let matvec = |m: &[f64], v: &[f64], rows: usize| -> Vec<f64> {
        (0..rows)
            .map(|r| (0..v.len()).map(|c| m[r * v.len() + c] * v[c]).sum())
            .collect()
    };
    let rope = |v: &mut [f64], pos: usize| {
        let half = HEAD_DIM / 2;
        for i in 0..half {
            let f = pos as f64 / THETA.powf(2.0 * i as f64 / HEAD_DIM as f64);
            let (c, s) = (f.cos(), f.sin());
            let (a, b) = (v[i], v[i + half]);
            v[i] = a * c - b * s;
            v[i + half] = b * c + a * s;
        }
    };
    for l in 0..LAYERS {
        let p = format!("model.layers.{l}");
        let (wq, wk, wv, wo) = (
            get(&format!("{p}.self_attn.q_proj.weight")),
            get(&format!("{p}.self_attn.k_proj.weight")),
            get(&format!("{p}.self_attn.v_proj.weight")),
            get(&format!("{p}.self_attn.o_proj.weight")),
        );
        let g1 = get(&format!("{p}.input_layernorm.weight"));
        let h: Vec<Vec<f64>> = x.iter().map(|v| norm(v, &g1)).collect();
        let mut q: Vec<Vec<f64>> = h.iter().map(|v| matvec(&wq, v, HEADS * HEAD_DIM)).collect();
        let mut k: Vec<Vec<f64>> = h
            .iter()
            .map(|v| matvec(&wk, v, KV_HEADS * HEAD_DIM))
            .collect();
        let vv: Vec<Vec<f64>> = h
            .iter()
            .map(|v| matvec(&wv, v, KV_HEADS * HEAD_DIM))
            .collect();
        for pos in 0..t {
            for hh in 0..HEADS {
                rope(&mut q[pos][hh * HEAD_DIM..(hh + 1) * HEAD_DIM], pos);
            }
            for hh in 0..KV_HEADS {
                rope(&mut k[pos][hh * HEAD_DIM..(hh + 1) * HEAD_DIM], pos);
            }
        }
        let rep = HEADS / KV_HEADS;
        let mut att = vec![vec![0.0; HEADS * HEAD_DIM]; t];
        for hh in 0..HEADS {
            let kh = hh / rep;
            for i in 0..t {
                let s: Vec<f64> = (0..=i)
                    .map(|j| {
                        (0..HEAD_DIM)
                            .map(|d| q[i][hh * HEAD_DIM + d] * k[j][kh * HEAD_DIM + d])
                            .sum::<f64>()
                            / (HEAD_DIM as f64).sqrt()
                    })
                    .collect();
                let m = s.iter().cloned().fold(f64::MIN, f64::max);
                let e: Vec<f64> = s.iter().map(|a| (a - m).exp()).collect();
                let z: f64 = e.iter().sum();
                for d in 0..HEAD_DIM {
                    att[i][hh * HEAD_DIM + d] =
                        (0..=i).map(|j| e[j] / z * vv[j][kh * HEAD_DIM + d]).sum();
                }
            }
        }
        for i in 0..t {
            let o = matvec(&wo, &att[i], HIDDEN);
            for d in 0..HIDDEN {
                x[i][d] += o[d];
            }
        }
        let g2 = get(&format!("{p}.post_attention_layernorm.weight"));
        let (wg, wu, wd) = (
            get(&format!("{p}.mlp.gate_proj.weight")),
            get(&format!("{p}.mlp.up_proj.weight")),
            get(&format!("{p}.mlp.down_proj.weight")),
        );
        for i in 0..t {
            let h = norm(&x[i], &g2);
            let g = matvec(&wg, &h, FF);
            let u = matvec(&wu, &h, FF);
            let a: Vec<f64> = g
                .iter()
                .zip(&u)
                .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
                .collect();
            let d = matvec(&wd, &a, HIDDEN);
            for j in 0..HIDDEN {
                x[i][j] += d[j];
            }
        }
    }
    let gn = get("model.norm.weight");
    let head = if tied {
        get("model.embed_tokens.weight")
    } else {
        get("lm_head.weight")
    };
    x.iter()
        .map(|v| matvec(&head, &norm(v, &gn), VOCAB))
        .collect()
}

/// Summed log-probabilities of each candidate after the prompt.
pub fn candidate_scores(lm: &oocr_llm::LoadedModel, prompt: &str, cands: &[&str]) -> Vec<f32> {
    let t = &lm.tokenizer;
    let prompt = t.encode_prompt(prompt).unwrap();
    let cands: Vec<Vec<u32>> = cands
        .iter()
        .map(|c| t.encode_continuation(c).unwrap())
        .collect();
    let b = oocr_llm::batch::scoring_batch(&[&prompt], &cands, 0).unwrap();
    let lp: Vec<f32> = lm
        .model
        .target_logprobs(&b.inputs, &b.rows, &b.targets)
        .unwrap()
        .to_vec1()
        .unwrap();
    let mut out = Vec::new();
    let mut i = 0;
    for c in &cands {
        out.push(lp[i..i + c.len()].iter().sum::<f32>());
        i += c.len();
    }
    out
}
