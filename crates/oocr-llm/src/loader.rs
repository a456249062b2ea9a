//! Loading causal LMs: Hugging Face folders (config.json, tokenizer.json, *.safetensors) and GGUF
//! files (dequantized to f32).
//!
//! The family (`models/`) is picked by `model_type` or `general.architecture`; it declares the
//! tensors under both naming schemes and the fixes llama.cpp's converter applied (`weights`), so
//! the model always runs in the Hugging Face layout.
use crate::config::{GgufMeta, HfJson};
use crate::error::{LlmError, Result};
use crate::model::CausalLm;
use crate::models;
use crate::packed::BaseDtype;
use crate::tokenizer::TextTokenizer;
use crate::weights::Weights;
use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::Device;
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

/// Load a model from a GGUF file or a Hugging Face folder (or a `.safetensors` file inside one),
/// every weight in f32. `tokenizer` overrides the tokenizer (a `tokenizer.json`).
pub fn load(path: &Path, tokenizer: Option<&Path>) -> Result<LoadedModel> {
    load_with(path, tokenizer, BaseDtype::F32)
}

/// `load`, with the weight matrices kept as `base` says (frozen; for LoRA).
pub fn load_with(path: &Path, tokenizer: Option<&Path>, base: BaseDtype) -> Result<LoadedModel> {
    if !path.exists() {
        return Err(LlmError::model_file(path, "no such file or folder"));
    }
    if path.is_dir() {
        return load_hf(path, tokenizer, base);
    }
    let mut magic = [0u8; 4];
    {
        use std::io::Read;
        let mut f = std::fs::File::open(path).map_err(|e| LlmError::io(path, e))?;
        let _ = f.read(&mut magic).map_err(|e| LlmError::io(path, e))?;
    }
    if &magic == b"GGUF" {
        load_gguf(path, tokenizer, base)
    } else if path.extension().is_some_and(|e| e == "safetensors") {
        load_hf(path.parent().unwrap_or(Path::new(".")), tokenizer, base)
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
pub fn load_hf(dir: &Path, tokenizer: Option<&Path>, base: BaseDtype) -> Result<LoadedModel> {
    let hf = HfJson::read(&dir.join("config.json"))?;
    let family = models::for_model_type(&hf)?;
    let cfg = family.config_from_hf(&hf)?;
    cfg.validate(&hf.path)?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| LlmError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| e == "safetensors")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("model"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(LlmError::model_file(
            dir,
            "no model*.safetensors file in the model folder",
        ));
    }
    let mut tensors = HashMap::new();
    for f in &files {
        let t = candle_core::safetensors::load(f, &Device::Cpu)
            .map_err(|e| LlmError::model_file(f, format!("not a valid safetensors file: {e}")))?;
        tensors.extend(t);
    }
    let model = models::build(family, cfg, Weights::hf(tensors, dir).with_base(base)?)?;
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

/// Load a GGUF file, dequantizing every tensor to f32 (or keeping the matrices as `base` says).
pub fn load_gguf(path: &Path, tokenizer: Option<&Path>, base: BaseDtype) -> Result<LoadedModel> {
    let mut file = std::fs::File::open(path).map_err(|e| LlmError::io(path, e))?;
    let content = Content::read(&mut file)
        .map_err(|e| LlmError::model_file(path, format!("not a valid GGUF file: {e}")))?;
    let meta = GgufMeta::new(&content, path)?;
    let family = models::for_gguf(&meta)?;
    let cfg = family.config_from_gguf(&meta)?;
    cfg.validate(path)?;
    let tok = match tokenizer {
        Some(p) => TextTokenizer::from_file(p)?,
        None => TextTokenizer::from_gguf(&content, path)?,
    };
    let name = match content.metadata.get("general.name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => display_name(path),
    };
    let model = models::build(
        family,
        cfg,
        Weights::gguf(file, content, path).with_base(base)?,
    )?;
    check_vocab(&model, &tok, tokenizer.unwrap_or(path))?;
    Ok(LoadedModel {
        model,
        tokenizer: tok,
        name,
    })
}
