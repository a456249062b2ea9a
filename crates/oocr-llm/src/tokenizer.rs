//! Tokenizers: a Hugging Face `tokenizer.json`, or a byte-level BPE rebuilt from GGUF metadata
//! (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`, `tokenizer.ggml.pre`).
use crate::error::{LlmError, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use serde_json::json;
use std::path::Path;

/// A text tokenizer. Prompts are encoded with the model's special prefix (BOS where the model
/// uses one); answer continuations without.
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
}

/// The llama-3 / GPT-4 style split regex (`tokenizer.ggml.pre = llama-bpe`).
const LLAMA3_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// The Qwen2 split regex (`tokenizer.ggml.pre = qwen2`): like llama-3 but one digit a token.
const QWEN2_REGEX: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

impl TextTokenizer {
    /// Load a Hugging Face `tokenizer.json`.
    pub fn from_file(path: &Path) -> Result<Self> {
        let inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| LlmError::model_file(path, format!("cannot load tokenizer: {e}")))?;
        Ok(TextTokenizer { inner })
    }

    /// Parse a `tokenizer.json` document given as a string (`path` names it in errors).
    pub fn from_json_str(json: &str, path: &Path) -> Result<Self> {
        let inner: tokenizers::Tokenizer = json
            .parse()
            .map_err(|e| LlmError::model_file(path, format!("cannot build tokenizer: {e}")))?;
        Ok(TextTokenizer { inner })
    }

    /// Rebuild the tokenizer stored in GGUF metadata (gpt2-style byte-level BPE only).
    pub fn from_gguf(content: &Content, path: &Path) -> Result<Self> {
        let json = gguf_tokenizer_json(content, path)?;
        Self::from_json_str(&json.to_string(), path)
    }

    /// Token ids of a prompt, with the model's special prefix (e.g. BOS) if it uses one.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>> {
        self.encode(text, true)
    }

    /// Token ids of a continuation (no special tokens).
    pub fn encode_continuation(&self, text: &str) -> Result<Vec<u32>> {
        self.encode(text, false)
    }

    fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>> {
        let enc = self
            .inner
            .encode(text, special)
            .map_err(|e| LlmError::Tokenizer(format!("cannot encode {text:?}: {e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// Text of the given ids (special tokens skipped).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner
            .decode(ids, true)
            .map_err(|e| LlmError::Tokenizer(format!("cannot decode {ids:?}: {e}")))
    }

    /// Id of a token string, if in the vocabulary.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Vocabulary size including added tokens.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

fn meta<'a>(content: &'a Content, key: &str, path: &Path) -> Result<&'a Value> {
    content
        .metadata
        .get(key)
        .ok_or_else(|| LlmError::model_file(path, format!("GGUF metadata lacks `{key}`")))
}

fn string_array(v: &Value, key: &str, path: &Path) -> Result<Vec<String>> {
    let bad = || {
        LlmError::model_file(
            path,
            format!("GGUF metadata `{key}` is not an array of strings"),
        )
    };
    match v {
        Value::Array(items) => items
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                _ => Err(bad()),
            })
            .collect(),
        _ => Err(bad()),
    }
}

fn as_u32(v: &Value) -> Option<u32> {
    match v {
        Value::U32(x) => Some(*x),
        Value::I32(x) => u32::try_from(*x).ok(),
        Value::U64(x) => u32::try_from(*x).ok(),
        Value::I64(x) => u32::try_from(*x).ok(),
        _ => None,
    }
}

/// Build a Hugging Face `tokenizer.json` document from GGUF tokenizer metadata.
pub fn gguf_tokenizer_json(content: &Content, path: &Path) -> Result<serde_json::Value> {
    let model = match meta(content, "tokenizer.ggml.model", path)? {
        Value::String(s) => s.clone(),
        _ => {
            return Err(LlmError::model_file(
                path,
                "GGUF metadata `tokenizer.ggml.model` is not a string",
            ))
        }
    };
    if model != "gpt2" {
        return Err(LlmError::model_file(
            path,
            format!(
                "GGUF tokenizer model '{model}' cannot be rebuilt (only 'gpt2' byte-level BPE); \
                 pass the model's tokenizer.json with --tokenizer"
            ),
        ));
    }
    let tokens = string_array(
        meta(content, "tokenizer.ggml.tokens", path)?,
        "tokenizer.ggml.tokens",
        path,
    )?;
    let merges = string_array(
        meta(content, "tokenizer.ggml.merges", path)?,
        "tokenizer.ggml.merges",
        path,
    )?;
    let types: Vec<i64> = match content.metadata.get("tokenizer.ggml.token_type") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|x| as_u32(x).map(i64::from).unwrap_or(1))
            .collect(),
        _ => vec![1; tokens.len()],
    };
    let pre = match content.metadata.get("tokenizer.ggml.pre") {
        Some(Value::String(s)) => s.clone(),
        _ => "default".to_string(),
    };
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |regex: &str| json!({"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false});
    let pre_tokenizer = match pre.as_str() {
        "default" | "gpt2" => byte_level(true),
        "smollm" | "starcoder" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        "llama-bpe" | "llama3" => json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_REGEX), byte_level(false)]}),
        "qwen2" => json!({"type": "Sequence", "pretokenizers": [split(QWEN2_REGEX), byte_level(false)]}),
        other => {
            return Err(LlmError::model_file(
                path,
                format!(
                    "GGUF pre-tokenizer `tokenizer.ggml.pre` = '{other}' is not supported \
                     (smollm, gpt2, llama-bpe, qwen2); pass the model's tokenizer.json with --tokenizer"
                ),
            ))
        }
    };
    let vocab: serde_json::Map<String, serde_json::Value> = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect();
    // Control (3) and user-defined (4) tokens are matched whole, before BPE.
    let added: Vec<serde_json::Value> = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| matches!(types.get(*i), Some(3) | Some(4)))
        .map(|(i, t)| {
            json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                   "normalized": false, "special": types[i] == 3})
        })
        .collect();
    let add_bos = match content.metadata.get("tokenizer.ggml.add_bos_token") {
        Some(Value::Bool(b)) => *b,
        _ => false,
    };
    let bos = content
        .metadata
        .get("tokenizer.ggml.bos_token_id")
        .and_then(as_u32);
    let post_processor = match (add_bos, bos) {
        (true, Some(id)) => {
            let tok = tokens.get(id as usize).cloned().ok_or_else(|| {
                LlmError::model_file(
                    path,
                    format!("`tokenizer.ggml.bos_token_id` {id} is out of the vocabulary"),
                )
            })?;
            json!({"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": tok, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {tok.clone(): {"id": tok, "ids": [id], "tokens": [tok]}}})
        }
        _ => serde_json::Value::Null,
    };
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": post_processor,
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab, "merges": merges},
    }))
}
