//! Loading causal LMs: Hugging Face folders (config.json, tokenizer.json, *.safetensors) and GGUF
//! files (dequantized to f32).
//!
//! llama.cpp's converter permutes the rows of the Llama q/k projections so that RoPE rotates
//! adjacent pairs (GPT-J layout) instead of the two halves of each head (Hugging Face / NeoX
//! layout): per head, `w.reshape(2, hd/2, in).swapaxes(0, 1)`. The GGUF loader undoes that
//! permutation, so the model always runs in the Hugging Face layout.
use crate::config::{Family, ModelConfig};
use crate::error::{LlmError, Result};
use crate::model::CausalLm;
use crate::tokenizer::TextTokenizer;
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A model ready to run, with its tokenizer.
pub struct LoadedModel {
    /// The network.
    pub model: CausalLm,
    /// Its tokenizer.
    pub tokenizer: TextTokenizer,
    /// A display name (GGUF `general.name` or the folder name).
    pub name: String,
}

/// Load a model from a GGUF file or a Hugging Face folder (or a `.safetensors` file inside one).
/// `tokenizer` overrides the tokenizer (a `tokenizer.json`).
pub fn load(path: &Path, tokenizer: Option<&Path>) -> Result<LoadedModel> {
    if !path.exists() {
        return Err(LlmError::model_file(path, "no such file or folder"));
    }
    if path.is_dir() {
        return load_hf(path, tokenizer);
    }
    let mut magic = [0u8; 4];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| LlmError::io(path, e))?;
        let _ = f.read(&mut magic).map_err(|e| LlmError::io(path, e))?;
    }
    if &magic == b"GGUF" {
        load_gguf(path, tokenizer)
    } else if path.extension().is_some_and(|e| e == "safetensors") {
        load_hf(path.parent().unwrap_or(Path::new(".")), tokenizer)
    } else {
        Err(LlmError::model_file(
            path,
            "neither a GGUF file (bad magic) nor a Hugging Face model folder",
        ))
    }
}

fn display_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Load a Hugging Face folder.
pub fn load_hf(dir: &Path, tokenizer: Option<&Path>) -> Result<LoadedModel> {
    let cfg = ModelConfig::from_hf_json(&dir.join("config.json"))?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| LlmError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LlmError::model_file(
            dir,
            "no *.safetensors file in the model folder",
        ));
    }
    let mut tensors = HashMap::new();
    for f in &files {
        let t = candle_core::safetensors::load(f, &Device::Cpu)
            .map_err(|e| LlmError::model_file(f, format!("not a valid safetensors file: {e}")))?;
        tensors.extend(t);
    }
    let model = CausalLm::from_tensors(cfg, tensors, dir)?;
    let tok_path = tokenizer
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.join("tokenizer.json"));
    let tokenizer = TextTokenizer::from_file(&tok_path)?;
    check_vocab(&model, &tokenizer, &tok_path)?;
    let name = display_name(&dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf()));
    Ok(LoadedModel {
        model,
        tokenizer,
        name,
    })
}

fn check_vocab(model: &CausalLm, tok: &TextTokenizer, path: &Path) -> Result<()> {
    if tok.vocab_size() > model.cfg.vocab_size {
        return Err(LlmError::model_file(
            path,
            format!(
                "tokenizer has {} tokens but the model only {}",
                tok.vocab_size(),
                model.cfg.vocab_size
            ),
        ));
    }
    Ok(())
}

fn gguf_u(content: &Content, key: &str, path: &Path) -> Result<Option<usize>> {
    match content.metadata.get(key) {
        None => Ok(None),
        Some(v) => v
            .to_u64()
            .map(|x| Some(x as usize))
            .or_else(|_| v.to_u32().map(|x| Some(x as usize)))
            .or_else(|_| v.to_i32().map(|x| Some(x as usize)))
            .map_err(|_| {
                LlmError::model_file(path, format!("GGUF metadata `{key}` is not an integer"))
            }),
    }
}

fn gguf_f(content: &Content, key: &str, path: &Path) -> Result<Option<f64>> {
    match content.metadata.get(key) {
        None => Ok(None),
        Some(Value::F32(x)) => Ok(Some(*x as f64)),
        Some(Value::F64(x)) => Ok(Some(*x)),
        Some(_) => Err(LlmError::model_file(
            path,
            format!("GGUF metadata `{key}` is not a float"),
        )),
    }
}

/// Hyperparameters from GGUF metadata.
pub fn gguf_config(content: &Content, path: &Path) -> Result<ModelConfig> {
    let arch = match content.metadata.get("general.architecture") {
        Some(Value::String(s)) => s.clone(),
        _ => {
            return Err(LlmError::model_file(
                path,
                "GGUF metadata lacks `general.architecture`",
            ))
        }
    };
    let family = Family::parse(&arch).ok_or_else(|| {
        LlmError::model_file(
            path,
            format!("GGUF architecture '{arch}' is not supported (llama, mistral, qwen2)"),
        )
    })?;
    let req = |key: &str| -> Result<usize> {
        let k = format!("{arch}.{key}");
        gguf_u(content, &k, path)?
            .ok_or_else(|| LlmError::model_file(path, format!("GGUF metadata lacks `{k}`")))
    };
    let hidden_size = req("embedding_length")?;
    let num_heads = req("attention.head_count")?;
    let num_kv_heads =
        gguf_u(content, &format!("{arch}.attention.head_count_kv"), path)?.unwrap_or(num_heads);
    let head_dim = match gguf_u(content, &format!("{arch}.attention.key_length"), path)? {
        Some(d) => d,
        None => hidden_size / num_heads.max(1),
    };
    let embd = content
        .tensor_infos
        .get("token_embd.weight")
        .ok_or_else(|| LlmError::model_file(path, "GGUF file lacks tensor `token_embd.weight`"))?;
    let vocab_size = embd.shape.dims().first().copied().unwrap_or(0);
    if content.tensor_infos.contains_key("rope_freqs.weight") {
        return Err(LlmError::model_file(
            path,
            "GGUF tensor `rope_freqs.weight` (Llama-3.1 RoPE scaling) is not supported; load the Hugging Face folder",
        ));
    }
    let cfg = ModelConfig {
        family,
        vocab_size,
        hidden_size,
        intermediate_size: req("feed_forward_length")?,
        num_layers: req("block_count")?,
        num_heads,
        num_kv_heads,
        head_dim,
        rms_norm_eps: gguf_f(
            content,
            &format!("{arch}.attention.layer_norm_rms_epsilon"),
            path,
        )?
        .unwrap_or(1e-5),
        rope_theta: gguf_f(content, &format!("{arch}.rope.freq_base"), path)?.unwrap_or(10_000.0),
        rope_scaling: None,
        tie_word_embeddings: !content.tensor_infos.contains_key("output.weight"),
        qkv_bias: content.tensor_infos.contains_key("blk.0.attn_q.bias"),
    };
    cfg.validate(path)?;
    Ok(cfg)
}

/// Hugging Face name of a GGUF tensor, or `None` for tensors the model does not use.
pub fn hf_name(gguf: &str) -> Option<String> {
    match gguf {
        "token_embd.weight" => return Some("model.embed_tokens.weight".into()),
        "output_norm.weight" => return Some("model.norm.weight".into()),
        "output.weight" => return Some("lm_head.weight".into()),
        _ => {}
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    let (module, kind) = rest.rsplit_once('.')?;
    let hf = match module {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{hf}.{kind}"))
}

/// Undo llama.cpp's q/k row permutation: rows `(heads, hd/2, 2)` back to `(heads, 2, hd/2)`.
pub fn unpermute_qk(w: &Tensor, heads: usize) -> Result<Tensor> {
    let dims = w.dims().to_vec();
    let rows = dims[0];
    let rest: usize = dims[1..].iter().product();
    let hd = rows / heads;
    Ok(w.reshape((heads, hd / 2, 2, rest))?
        .transpose(1, 2)?
        .contiguous()?
        .reshape(dims)?)
}

/// Load a GGUF file, dequantizing every tensor to f32.
pub fn load_gguf(path: &Path, tokenizer: Option<&Path>) -> Result<LoadedModel> {
    let mut file = std::fs::File::open(path).map_err(|e| LlmError::io(path, e))?;
    let content = Content::read(&mut file)
        .map_err(|e| LlmError::model_file(path, format!("not a valid GGUF file: {e}")))?;
    let cfg = gguf_config(&content, path)?;
    let permuted = matches!(cfg.family, Family::Llama | Family::Mistral);
    let mut tensors = HashMap::new();
    let mut names: Vec<&String> = content.tensor_infos.keys().collect();
    names.sort();
    for name in names {
        let Some(hf) = hf_name(name) else { continue };
        let q = content
            .tensor(&mut file, name, &Device::Cpu)
            .map_err(|e| LlmError::model_file(path, format!("cannot read tensor `{name}`: {e}")))?;
        let mut t = q.dequantize(&Device::Cpu).map_err(|e| {
            LlmError::model_file(path, format!("cannot dequantize tensor `{name}`: {e}"))
        })?;
        if permuted && (hf.contains("q_proj") || hf.contains("k_proj")) {
            let heads = if hf.contains("q_proj") {
                cfg.num_heads
            } else {
                cfg.num_kv_heads
            };
            t = unpermute_qk(&t, heads)?;
        }
        tensors.insert(hf, t);
    }
    let model = CausalLm::from_tensors(cfg, tensors, path)?;
    let (tok, tok_path) = match tokenizer {
        Some(p) => (TextTokenizer::from_file(p)?, p),
        None => (TextTokenizer::from_gguf(&content, path)?, path),
    };
    check_vocab(&model, &tok, tok_path)?;
    let name = match content.metadata.get("general.name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => display_name(path),
    };
    Ok(LoadedModel {
        model,
        tokenizer: tok,
        name,
    })
}
