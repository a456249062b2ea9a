//! Tokenizers: a Hugging Face `tokenizer.json`, or the tokenizer a GGUF file describes in its metadata,
//! rebuilt the way Hugging Face transformers' GGUF converter rebuilds it: a byte-level BPE
//! (`tokenizer.ggml.model = "gpt2"`) or a SentencePiece-style BPE with byte fallback
//! (`tokenizer.ggml.model = "llama"`: Llama-2, Mistral, Gemma).
use crate::error::{LlmError, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use serde_json::json;
use std::collections::HashMap;
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

    /// Rebuild the tokenizer stored in GGUF metadata (`gpt2` byte-level BPE or `llama` SentencePiece BPE).
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
    let tokens = string_array(
        meta(content, "tokenizer.ggml.tokens", path)?,
        "tokenizer.ggml.tokens",
        path,
    )?;
    let types = token_types(content, tokens.len(), path)?;
    let ids = SpecialIds::read(content, tokens.len(), path)?;
    match model.as_str() {
        "gpt2" => byte_level_json(content, path, &tokens, &types, &ids),
        "llama" => sentencepiece_json(content, path, tokens, &types, &ids),
        other => Err(LlmError::model_file(
            path,
            format!(
                "GGUF tokenizer model `tokenizer.ggml.model` = '{other}' cannot be rebuilt \
                 (supported: gpt2, llama); pass the model's tokenizer.json with --tokenizer"
            ),
        )),
    }
}

/// llama.cpp's token types (`tokenizer.ggml.token_type`), SentencePiece's numbering.
const TYPE_CONTROL: i64 = 3;
const TYPE_USER_DEFINED: i64 = 4;

/// One type per token; every token is normal (1) when the file has no `tokenizer.ggml.token_type`.
fn token_types(content: &Content, n: usize, path: &Path) -> Result<Vec<i64>> {
    let key = "tokenizer.ggml.token_type";
    let Some(v) = content.metadata.get(key) else {
        return Ok(vec![1; n]);
    };
    let bad = |why: &str| LlmError::model_file(path, format!("GGUF metadata `{key}` {why}"));
    let Value::Array(items) = v else {
        return Err(bad("is not an array"));
    };
    if items.len() != n {
        return Err(bad(&format!("has {} entries for {n} tokens", items.len())));
    }
    items
        .iter()
        .map(|x| as_i64(x).ok_or_else(|| bad("holds a non-integer")))
        .collect()
}

fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::I32(x) => Some(i64::from(*x)),
        Value::U32(x) => Some(i64::from(*x)),
        Value::I64(x) => Some(*x),
        Value::U64(x) => i64::try_from(*x).ok(),
        Value::I8(x) => Some(i64::from(*x)),
        Value::U8(x) => Some(i64::from(*x)),
        Value::I16(x) => Some(i64::from(*x)),
        Value::U16(x) => Some(i64::from(*x)),
        _ => None,
    }
}

fn meta_bool(content: &Content, key: &str, path: &Path) -> Result<Option<bool>> {
    match content.metadata.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(LlmError::model_file(
            path,
            format!("GGUF metadata `{key}` is not a boolean"),
        )),
    }
}

/// The special token ids the file names, and whether BOS/EOS are added around a sequence.
struct SpecialIds {
    bos: Option<u32>,
    eos: Option<u32>,
    unk: Option<u32>,
    pad: Option<u32>,
    add_bos: Option<bool>,
    add_eos: bool,
}

impl SpecialIds {
    fn read(content: &Content, n: usize, path: &Path) -> Result<Self> {
        let id = |key: &str| -> Result<Option<u32>> {
            match content.metadata.get(key) {
                None => Ok(None),
                Some(v) => match as_u32(v) {
                    Some(id) if (id as usize) < n => Ok(Some(id)),
                    Some(id) => Err(LlmError::model_file(
                        path,
                        format!(
                            "GGUF metadata `{key}` = {id} is out of the vocabulary ({n} tokens)"
                        ),
                    )),
                    None => Err(LlmError::model_file(
                        path,
                        format!("GGUF metadata `{key}` is not a token id"),
                    )),
                },
            }
        };
        Ok(SpecialIds {
            bos: id("tokenizer.ggml.bos_token_id")?,
            eos: id("tokenizer.ggml.eos_token_id")?,
            unk: id("tokenizer.ggml.unknown_token_id")?,
            pad: id("tokenizer.ggml.padding_token_id")?,
            add_bos: meta_bool(content, "tokenizer.ggml.add_bos_token", path)?,
            add_eos: meta_bool(content, "tokenizer.ggml.add_eos_token", path)?.unwrap_or(false),
        })
    }

    fn named(&self) -> impl Iterator<Item = u32> {
        [self.bos, self.eos, self.unk, self.pad]
            .into_iter()
            .flatten()
    }

    /// A `TemplateProcessing` adding BOS (and EOS) the way transformers' `update_post_processor`
    /// writes it, or null when nothing is added. A flag without its token id adds nothing, as there.
    fn post_processor(&self, tokens: &[String], add_bos_default: bool) -> serde_json::Value {
        let add_bos = self.add_bos.unwrap_or(add_bos_default);
        let bos = self.bos.filter(|_| add_bos);
        let eos = self.eos.filter(|_| self.add_eos);
        if bos.is_none() && eos.is_none() {
            return serde_json::Value::Null;
        }
        let special = |id: u32, type_id: u32| json!({"SpecialToken": {"id": tokens[id as usize], "type_id": type_id}});
        let seq = |name: &str, type_id: u32| json!({"Sequence": {"id": name, "type_id": type_id}});
        let mut single = Vec::new();
        let mut pair = Vec::new();
        for (part, type_id) in [("A", 0), ("B", 1)] {
            let out = if part == "A" { &mut single } else { &mut pair };
            if let Some(b) = bos {
                out.push(special(b, type_id));
            }
            out.push(seq(part, type_id));
            if let Some(e) = eos {
                out.push(special(e, type_id));
            }
        }
        let pair: Vec<serde_json::Value> = single.iter().cloned().chain(pair).collect();
        let mut specials = serde_json::Map::new();
        for id in [bos, eos].into_iter().flatten() {
            let tok = &tokens[id as usize];
            specials.insert(
                tok.clone(),
                json!({"id": tok, "ids": [id], "tokens": [tok]}),
            );
        }
        json!({"type": "TemplateProcessing", "single": single, "pair": pair, "special_tokens": specials})
    }
}

/// Added tokens: control tokens and the named special ids as special tokens, user-defined tokens
/// as plain added tokens (both matched whole, before the model), as transformers'
/// `add_gguf_special_tokens` adds them. `keep` filters the user-defined ones.
fn added_tokens(
    tokens: &[String],
    types: &[i64],
    ids: &SpecialIds,
    keep_control: impl Fn(&str) -> bool,
    keep_user: impl Fn(&str) -> bool,
) -> Vec<serde_json::Value> {
    let named: Vec<u32> = ids.named().collect();
    tokens
        .iter()
        .enumerate()
        .filter_map(|(i, t)| {
            let special = (types[i] == TYPE_CONTROL && keep_control(t))
                || named.contains(&(i as u32));
            let user = types[i] == TYPE_USER_DEFINED && keep_user(t);
            (special || user).then(|| {
                json!({"id": i, "content": t, "single_word": false, "lstrip": false, "rstrip": false,
                       "normalized": false, "special": special})
            })
        })
        .collect()
}

fn vocab_json(tokens: &[String]) -> serde_json::Map<String, serde_json::Value> {
    // A token listed twice keeps its last id, as a Python dict built from the list does.
    tokens
        .iter()
        .enumerate()
        .map(|(i, t)| (t.clone(), json!(i)))
        .collect()
}

/// GPT-2's byte-level alphabet: the 256 characters bytes are spelled with (the printable bytes
/// as themselves, the other 68 as U+0100..U+0143).
fn byte_level_alphabet() -> Vec<char> {
    let printable = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF);
    printable
        .chain(0x100..0x100 + 68)
        .filter_map(char::from_u32)
        .collect()
}

/// `tokenizer.ggml.model = "gpt2"`: byte-level BPE with the merges from the file.
fn byte_level_json(
    content: &Content,
    path: &Path,
    tokens: &[String],
    types: &[i64],
    ids: &SpecialIds,
) -> Result<serde_json::Value> {
    let merges = string_array(
        meta(content, "tokenizer.ggml.merges", path)?,
        "tokenizer.ggml.merges",
        path,
    )?;
    let pre = match content.metadata.get("tokenizer.ggml.pre") {
        Some(Value::String(s)) => s.clone(),
        _ => "default".to_string(),
    };
    let byte_level = |use_regex: bool| json!({"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": use_regex});
    let split = |regex: &str| json!({"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": false});
    let pre_tokenizer = match pre.as_str() {
        // llama.cpp names GPT-2's own split "gpt-2"; older files say "gpt2" or nothing.
        "default" | "gpt2" | "gpt-2" => byte_level(true),
        "smollm" | "starcoder" => json!({"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": true}, byte_level(true)]}),
        "llama-bpe" | "llama3" | "llama-v3" => json!({"type": "Sequence", "pretokenizers": [split(LLAMA3_REGEX), byte_level(false)]}),
        "qwen2" | "deepseek-r1-qwen" => json!({"type": "Sequence", "pretokenizers": [split(QWEN2_REGEX), byte_level(false)]}),
        other => {
            return Err(LlmError::model_file(
                path,
                format!(
                    "GGUF pre-tokenizer `tokenizer.ggml.pre` = '{other}' is not supported \
                     (default, gpt-2, smollm, starcoder, llama-bpe, qwen2); pass the model's tokenizer.json with --tokenizer"
                ),
            ))
        }
    };
    // A control token spelled outside the byte alphabet is a llama.cpp mislabel: transformers
    // skips it, and so do we.
    let alphabet: std::collections::HashSet<char> = byte_level_alphabet().into_iter().collect();
    let added = added_tokens(
        tokens,
        types,
        ids,
        |t| t.chars().all(|c| alphabet.contains(&c)),
        |_| true,
    );
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": null,
        "pre_tokenizer": pre_tokenizer,
        "post_processor": ids.post_processor(tokens, false),
        "decoder": {"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
        "model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": false, "byte_fallback": false,
                  "ignore_merges": false, "vocab": vocab_json(tokens), "merges": merges},
    }))
}

/// Python's `str.isspace` (Rust's `char::is_whitespace` plus the four information separators).
fn py_isspace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `tokenizer.ggml.model = "llama"`: SentencePiece BPE with byte fallback (`<0x00>`..`<0xFF>`)
/// and `▁` for spaces. Three shapes, chosen like transformers chooses them from
/// `general.architecture`:
/// - Gemma (`gemma`, `gemma2`, `gemma3`): spaces become `▁` in a normalizer, no space prefix,
///   whitespace-only tokens (stored with real spaces) respelled with `▁`, merges ranked by the
///   order of the tokens in the file (Gemma's scores do not follow its merge order);
/// - Phi-3: a `▁` prefix and spaces as `▁` from a normalizer;
/// - otherwise (Llama 2, Mistral, ...): a `Metaspace` pre-tokenizer adding `▁` before the first
///   word, merges ranked by `tokenizer.ggml.scores`. Where `tokenizer.ggml.add_space_prefix` is
///   false the prefix is left out, as llama.cpp does (transformers ignores that flag).
///
/// Merges are taken from `tokenizer.ggml.merges` when present, otherwise derived from the
/// vocabulary as transformers' `generate_merges` derives them.
fn sentencepiece_json(
    content: &Content,
    path: &Path,
    mut tokens: Vec<String>,
    types: &[i64],
    ids: &SpecialIds,
) -> Result<serde_json::Value> {
    let arch = match content.metadata.get("general.architecture") {
        Some(Value::String(s)) => s.as_str(),
        _ => "",
    };
    let gemma = matches!(arch, "gemma" | "gemma2" | "gemma3");
    let phi3 = arch == "phi3";
    let original = tokens.clone();
    if gemma {
        for t in tokens.iter_mut() {
            if t.contains(' ') && t.chars().all(py_isspace) {
                *t = "\u{2581}".repeat(t.chars().count());
            }
        }
    }
    let merges: Vec<serde_json::Value> = match content.metadata.get("tokenizer.ggml.merges") {
        Some(v) => string_array(v, "tokenizer.ggml.merges", path)?
            .iter()
            .map(|m| match m.split_once(' ') {
                Some((l, r)) => Ok(json!([l, r])),
                None => Err(LlmError::model_file(
                    path,
                    format!("GGUF metadata `tokenizer.ggml.merges` holds '{m}', not 'left right'"),
                )),
            })
            .collect::<Result<_>>()?,
        None => {
            let scores: Vec<f64> = if gemma {
                (0..tokens.len()).map(|i| -(i as f64)).collect()
            } else {
                let key = "tokenizer.ggml.scores";
                let bad =
                    |why: &str| LlmError::model_file(path, format!("GGUF metadata `{key}` {why}"));
                let Value::Array(items) = meta(content, key, path)? else {
                    return Err(bad("is not an array"));
                };
                if items.len() != tokens.len() {
                    return Err(bad(&format!(
                        "has {} entries for {} tokens",
                        items.len(),
                        tokens.len()
                    )));
                }
                items
                    .iter()
                    .map(|x| match x {
                        Value::F32(f) => Ok(f64::from(*f)),
                        Value::F64(f) => Ok(*f),
                        _ => Err(bad("holds a non-float")),
                    })
                    .collect::<Result<_>>()?
            };
            generate_merges(&tokens, &scores)
                .into_iter()
                .map(|(l, r)| json!([l, r]))
                .collect()
        }
    };
    let vocab = vocab_json(&tokens);
    // User-defined tokens join the added tokens only under their own spelling in the vocabulary
    // (Gemma's respelled whitespace tokens do not).
    let added = added_tokens(&original, types, ids, |_| true, |t| vocab.contains_key(t));
    let add_prefix = meta_bool(content, "tokenizer.ggml.add_space_prefix", path)?.unwrap_or(true);
    let metaspace = |scheme: &str| json!({"type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": scheme, "split": false});
    let replace = |pattern: &str, content: &str| json!({"type": "Replace", "pattern": {"String": pattern}, "content": content});
    let (normalizer, pre_tokenizer, prefix) = if gemma {
        (
            replace(" ", "\u{2581}"),
            json!({"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithPrevious", "invert": false}),
            false,
        )
    } else if phi3 {
        (
            json!({"type": "Sequence", "normalizers": [
                {"type": "Prepend", "prepend": "\u{2581}"}, replace(" ", "\u{2581}")]}),
            serde_json::Value::Null,
            true,
        )
    } else if add_prefix {
        (serde_json::Value::Null, metaspace("first"), true)
    } else {
        (serde_json::Value::Null, metaspace("never"), false)
    };
    let mut decoders = vec![
        replace("\u{2581}", " "),
        json!({"type": "ByteFallback"}),
        json!({"type": "Fuse"}),
    ];
    if prefix {
        decoders.push(json!({"type": "Strip", "content": " ", "start": 1, "stop": 0}));
    }
    // Gemma's builder names `<unk>` as the unknown token; Llama's names none.
    let unk = if gemma && vocab.contains_key("<unk>") {
        json!("<unk>")
    } else {
        serde_json::Value::Null
    };
    Ok(json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": added,
        "normalizer": normalizer,
        "pre_tokenizer": pre_tokenizer,
        // llama.cpp adds BOS to a SentencePiece vocabulary that does not say otherwise.
        "post_processor": ids.post_processor(&original, true),
        "decoder": {"type": "Sequence", "decoders": decoders},
        "model": {"type": "BPE", "dropout": null, "unk_token": unk, "continuing_subword_prefix": null,
                  "end_of_word_suffix": null, "fuse_unk": true, "byte_fallback": true,
                  "ignore_merges": false, "vocab": vocab, "merges": merges},
    }))
}

/// The merges a BPE vocabulary implies, best first, as transformers' `generate_merges` derives
/// them: every split of every token into two tokens of the vocabulary, ranked by the token's
/// score (higher first), then by the lengths of the two halves (longer first); ties keep the
/// order of the tokens, and within a token the order of the halves' ids.
pub fn generate_merges(tokens: &[String], scores: &[f64]) -> Vec<(String, String)> {
    // A token listed twice: its first position orders it, its last id and score count.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(tokens.len());
    for (i, t) in tokens.iter().enumerate() {
        index.insert(t.as_str(), i);
    }
    let mut seen: std::collections::HashSet<&str> =
        std::collections::HashSet::with_capacity(tokens.len());
    // (score, left chars, right chars, left, right)
    let mut merges: Vec<(f64, usize, usize, &str, &str)> = Vec::new();
    let mut local: Vec<(usize, usize, &str, &str)> = Vec::new();
    for t in tokens {
        if !seen.insert(t.as_str()) {
            continue;
        }
        let score = scores[index[t.as_str()]];
        local.clear();
        for (at, _) in t.char_indices().skip(1) {
            let (l, r) = t.split_at(at);
            if let (Some(&il), Some(&ir)) = (index.get(l), index.get(r)) {
                local.push((il, ir, l, r));
            }
        }
        local.sort_by_key(|&(il, ir, _, _)| (il, ir));
        for &(_, _, l, r) in &local {
            merges.push((score, l.chars().count(), r.chars().count(), l, r));
        }
    }
    // Stable, so equal keys keep their order (Python's `sorted(..., reverse=True)` does too).
    merges.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)).then(b.2.cmp(&a.2)));
    merges
        .into_iter()
        .map(|(_, _, _, l, r)| (l.to_string(), r.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn merges_rank_by_score_then_length_then_file_order() {
        let t = toks(&["a", "b", "c", "ab", "abc", "bc"]);
        let s = [0.0, 0.0, 0.0, -1.0, -2.0, -1.0];
        let m = generate_merges(&t, &s);
        let m: Vec<(&str, &str)> = m.iter().map(|(l, r)| (l.as_str(), r.as_str())).collect();
        // ab and bc tie on score and lengths: file order. abc: "ab"+"c" (2,1) before "a"+"bc" (1,2).
        assert_eq!(m, vec![("a", "b"), ("b", "c"), ("ab", "c"), ("a", "bc")]);
    }

    #[test]
    fn merges_split_on_characters_not_bytes() {
        let t = toks(&["ë", "Z", "Zë", "▁", "▁Zë"]);
        let s = [0.0, 0.0, -1.0, 0.0, -2.0];
        let m = generate_merges(&t, &s);
        assert_eq!(m[0], ("Z".to_string(), "ë".to_string()));
        assert_eq!(m[1], ("▁".to_string(), "Zë".to_string()));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn byte_level_alphabet_has_256_distinct_characters() {
        let a: std::collections::HashSet<char> = byte_level_alphabet().into_iter().collect();
        assert_eq!(a.len(), 256);
        assert!(a.contains(&'Ġ') && a.contains(&'Ċ') && !a.contains(&' '));
    }

    #[test]
    fn python_whitespace_matches_str_isspace_on_separators() {
        assert!(py_isspace('\u{1f}') && py_isspace(' ') && py_isspace('\u{3000}'));
        assert!(!py_isspace('▁') && !py_isspace('a'));
    }
}
