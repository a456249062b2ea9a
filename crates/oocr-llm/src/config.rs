//! Architecture hyperparameters of a decoder-only causal LM, shared by every family in `models/`,
//! and the readers of the two places they come from: a Hugging Face `config.json` and GGUF
//! metadata. Each family (one file under `models/`) turns those into a `ModelConfig`; a key that
//! changes the numbers and that oocr does not implement is an error, never a silent default.
use crate::error::{LlmError, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// How a norm layer normalizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NormKind {
    /// RMSNorm, `x / rms(x) · w` (Llama, Qwen, OLMo 2).
    Rms,
    /// Gemma's RMSNorm, `x / rms(x) · (1 + w)`.
    RmsOffset,
    /// LayerNorm, `(x − mean) / std`, times `w` where the norm has a weight (OLMo 1 has none).
    LayerNorm,
}

/// Activation of the gated MLP `down(act(gate(x)) · up(x))`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// SiLU (SwiGLU).
    Silu,
    /// GELU with the tanh approximation (GeGLU; `gelu_pytorch_tanh`).
    GeluTanh,
}

impl Activation {
    /// Parse a Hugging Face activation name.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "silu" | "swish" => Some(Activation::Silu),
            "gelu_pytorch_tanh" | "gelu_tanh" | "gelu_new" => Some(Activation::GeluTanh),
            _ => None,
        }
    }
}

/// RoPE frequency scaling.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "type")]
pub enum RopeScaling {
    /// Llama-3 style (`rope_type = "llama3"`).
    Llama3 {
        /// Overall scale of the low frequencies.
        factor: f64,
        /// Wavelength bound (in units of the original context) under which frequencies are kept.
        high_freq_factor: f64,
        /// Wavelength bound above which frequencies are divided by `factor`.
        low_freq_factor: f64,
        /// Context length the model was pretrained with.
        original_max_position_embeddings: usize,
    },
    /// Every frequency divided by `factor` (`rope_type = "linear"`).
    Linear {
        /// The divisor.
        factor: f64,
    },
}

/// Rotary position embedding of one kind of layer.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rope {
    /// Base frequency.
    pub theta: f64,
    /// Optional frequency scaling.
    pub scaling: Option<RopeScaling>,
}

impl Rope {
    /// Plain RoPE with base `theta`.
    pub fn plain(theta: f64) -> Self {
        Rope {
            theta,
            scaling: None,
        }
    }

    /// Inverse frequencies, `head_dim / 2` of them, scaling applied.
    pub fn inv_freq(&self, head_dim: usize) -> Vec<f32> {
        (0..head_dim / 2)
            .map(|i| {
                let f = 1.0 / self.theta.powf(2.0 * i as f64 / head_dim as f64);
                let f = match self.scaling {
                    None => f,
                    Some(RopeScaling::Linear { factor }) => f / factor,
                    Some(RopeScaling::Llama3 {
                        factor,
                        high_freq_factor,
                        low_freq_factor,
                        original_max_position_embeddings,
                    }) => {
                        let old = original_max_position_embeddings as f64;
                        let low_wavelen = old / low_freq_factor;
                        let high_wavelen = old / high_freq_factor;
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / factor
                        } else {
                            let smooth = (old / wavelen - low_freq_factor)
                                / (high_freq_factor - low_freq_factor);
                            (1.0 - smooth) * f / factor + smooth * f
                        }
                    }
                };
                f as f32
            })
            .collect()
    }
}

/// What differs between the layers of one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerSpec {
    /// Sliding attention window: a query at position i sees keys at positions j with
    /// `i − window < j ≤ i`. `None`: full causal attention.
    pub window: Option<usize>,
    /// Whether the layer uses `ModelConfig::rope_local` instead of `rope` (Gemma 3's local layers).
    pub local_rope: bool,
}

/// Hyperparameters of the decoder, for every family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Family name (a file of `models/`).
    pub family: String,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the gated MLP's hidden layer.
    pub intermediate_size: usize,
    /// Number of decoder blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `num_heads`).
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Norm layers' kind.
    pub norm: NormKind,
    /// Epsilon of every norm.
    pub norm_eps: f64,
    /// MLP activation.
    pub act: Activation,
    /// RoPE of the (global) layers.
    pub rope: Rope,
    /// RoPE of local layers (Gemma 3).
    pub rope_local: Option<Rope>,
    /// Per-layer window and RoPE choice, `num_layers` of them.
    pub layers: Vec<LayerSpec>,
    /// Factor on the attention scores (usually `head_dim^-1/2`).
    pub attn_scale: f64,
    /// Attention logit soft-capping `c · tanh(s / c)` (Gemma 2).
    pub attn_softcap: Option<f64>,
    /// Final logit soft-capping (Gemma 2).
    pub final_softcap: Option<f64>,
    /// Factor on the token embeddings (Gemma: √hidden).
    pub embed_scale: Option<f64>,
    /// Whether q/k/v projections carry a bias.
    pub qkv_bias: bool,
    /// Clamp q, k and v to `[−c, c]` (OLMo 1's `clip_qkv`).
    pub clip_qkv: Option<f64>,
    /// Whether the output head reuses the token embedding.
    pub tie_word_embeddings: bool,
}

impl ModelConfig {
    /// Check that the shapes are consistent; errors name the key.
    pub fn validate(&self, path: &Path) -> Result<()> {
        let bad =
            |key: &str, msg: String| Err(LlmError::model_file(path, format!("`{key}`: {msg}")));
        for (key, v) in [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_layers),
            ("num_attention_heads", self.num_heads),
            ("num_key_value_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
        ] {
            if v == 0 {
                return bad(key, "must be positive".into());
            }
        }
        if !self.num_heads.is_multiple_of(self.num_kv_heads) {
            return bad(
                "num_key_value_heads",
                format!(
                    "{} does not divide num_attention_heads = {}",
                    self.num_kv_heads, self.num_heads
                ),
            );
        }
        if !self.head_dim.is_multiple_of(2) {
            return bad(
                "head_dim",
                format!("{} must be even for RoPE", self.head_dim),
            );
        }
        let positive = |x: f64| x.is_finite() && x > 0.0;
        if !positive(self.norm_eps) {
            return bad(
                "rms_norm_eps",
                format!("{} must be positive", self.norm_eps),
            );
        }
        for r in std::iter::once(&self.rope).chain(self.rope_local.as_ref()) {
            if !positive(r.theta) {
                return bad("rope_theta", format!("{} must be positive", r.theta));
            }
        }
        if !positive(self.attn_scale) {
            return bad(
                "query_pre_attn_scalar",
                format!("attention scale {} must be positive", self.attn_scale),
            );
        }
        for (key, c) in [
            ("attn_logit_softcapping", self.attn_softcap),
            ("final_logit_softcapping", self.final_softcap),
            ("clip_qkv", self.clip_qkv),
        ] {
            if let Some(c) = c {
                if !positive(c) {
                    return bad(key, format!("{c} must be positive"));
                }
            }
        }
        if self.layers.len() != self.num_layers {
            return bad(
                "layer_types",
                format!(
                    "{} entries for {} layers",
                    self.layers.len(),
                    self.num_layers
                ),
            );
        }
        if self.layers.iter().any(|l| l.window == Some(0)) {
            return bad("sliding_window", "must be positive".into());
        }
        if self.layers.iter().any(|l| l.local_rope) && self.rope_local.is_none() {
            return bad("rope_local_base_freq", "missing for local layers".into());
        }
        Ok(())
    }

    /// Read a Hugging Face `config.json` through the family its `model_type` names.
    pub fn from_hf_json(path: &Path) -> Result<Self> {
        let hf = HfJson::read(path)?;
        let family = crate::models::for_model_type(&hf)?;
        let cfg = family.config_from_hf(&hf)?;
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// The RoPE of layer `i`.
    pub fn layer_rope(&self, i: usize) -> &Rope {
        match (self.layers[i].local_rope, &self.rope_local) {
            (true, Some(r)) => r,
            _ => &self.rope,
        }
    }
}

/// A parsed `config.json`, with typed getters whose errors name the key and the file.
#[derive(Debug, Clone)]
pub struct HfJson {
    /// The document.
    pub v: serde_json::Value,
    /// Where it came from.
    pub path: PathBuf,
}

impl HfJson {
    /// Read and parse `path`.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| LlmError::io(path, e))?;
        Self::parse(&text, path)
    }

    /// Parse a document (`path` names it in errors).
    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| LlmError::model_file(path, format!("not valid JSON: {e}")))?;
        if !v.is_object() {
            return Err(LlmError::model_file(path, "not a JSON object"));
        }
        Ok(HfJson {
            v,
            path: path.to_path_buf(),
        })
    }

    /// An error about `key`.
    pub fn err(&self, key: &str, msg: impl std::fmt::Display) -> LlmError {
        LlmError::model_file(&self.path, format!("`{key}`: {msg}"))
    }

    fn get(&self, key: &str) -> Option<&serde_json::Value> {
        self.v.get(key).filter(|x| !x.is_null())
    }

    /// A string value, if present.
    pub fn str(&self, key: &str) -> Result<Option<&str>> {
        self.get(key)
            .map(|x| x.as_str().ok_or_else(|| self.err(key, "not a string")))
            .transpose()
    }

    /// A required non-negative integer.
    pub fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?
            .ok_or_else(|| self.err(key, "missing (a non-negative integer is needed)"))
    }

    /// An optional non-negative integer.
    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        self.get(key)
            .map(|x| {
                x.as_u64()
                    .and_then(|u| usize::try_from(u).ok())
                    .ok_or_else(|| self.err(key, format!("{x} is not a non-negative integer")))
            })
            .transpose()
    }

    /// An optional number.
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        self.get(key)
            .map(|x| {
                x.as_f64()
                    .ok_or_else(|| self.err(key, format!("{x} is not a number")))
            })
            .transpose()
    }

    /// A number with the family's default when absent.
    pub fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        Ok(self.opt_f64(key)?.unwrap_or(default))
    }

    /// A boolean with the family's default when absent.
    pub fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(x) => x.as_bool().ok_or_else(|| self.err(key, "not a boolean")),
        }
    }

    /// Refuse a key whose value changes the numbers in a way oocr does not implement
    /// (`unsupported(value)` says which values are).
    pub fn refuse(
        &self,
        key: &str,
        unsupported: impl Fn(&serde_json::Value) -> bool,
    ) -> Result<()> {
        match self.get(key) {
            Some(x) if unsupported(x) => Err(self.err(key, format!("{x} is not supported"))),
            _ => Ok(()),
        }
    }

    /// The MLP activation from the first of `keys` present (else `default`).
    pub fn activation(&self, keys: &[&str], default: Activation) -> Result<Activation> {
        for key in keys {
            if let Some(name) = self.str(key)? {
                return Activation::parse(name).ok_or_else(|| {
                    self.err(
                        key,
                        format!("'{name}' is not supported (silu, gelu_pytorch_tanh)"),
                    )
                });
            }
        }
        Ok(default)
    }

    /// The shape fields every family has: vocabulary, widths, layers, heads (kv heads default to
    /// the heads, the head width to hidden / heads).
    pub fn shapes(&self) -> Result<Shapes> {
        let hidden_size = self.usize("hidden_size")?;
        let num_heads = self.usize("num_attention_heads")?;
        if num_heads == 0 {
            return Err(self.err("num_attention_heads", "must be positive"));
        }
        Ok(Shapes {
            vocab_size: self.usize("vocab_size")?,
            hidden_size,
            intermediate_size: self.usize("intermediate_size")?,
            num_layers: self.usize("num_hidden_layers")?,
            num_heads,
            num_kv_heads: self.opt_usize("num_key_value_heads")?.unwrap_or(num_heads),
            head_dim: self
                .opt_usize("head_dim")?
                .unwrap_or(hidden_size / num_heads),
        })
    }

    /// The RoPE settings: `rope_parameters` (transformers ≥ 5; `layer_type` picks the entry when it
    /// is keyed by layer type) or the older top-level `rope_theta` / `rope_scaling`.
    /// `default_theta` is the family's default when no base is given at all.
    pub fn rope(&self, layer_type: Option<&str>, default_theta: f64) -> Result<Rope> {
        if let Some(p) = self.get("rope_parameters") {
            let (key, p) = match layer_type {
                Some(t) if p.get(t).is_some() => (format!("rope_parameters.{t}"), &p[t]),
                Some(t) if p.get("rope_theta").is_none() => {
                    return Err(self.err("rope_parameters", format!("no entry for '{t}'")))
                }
                _ => ("rope_parameters".to_string(), p),
            };
            let theta = match p.get("rope_theta").filter(|x| !x.is_null()) {
                Some(x) => x
                    .as_f64()
                    .ok_or_else(|| self.err(&format!("{key}.rope_theta"), "not a number"))?,
                None => default_theta,
            };
            return Ok(Rope {
                theta,
                scaling: self.scaling(p, &key)?,
            });
        }
        Ok(Rope {
            theta: self.f64_or("rope_theta", default_theta)?,
            scaling: match self.get("rope_scaling") {
                None => None,
                Some(s) => self.scaling(s, "rope_scaling")?,
            },
        })
    }

    fn scaling(&self, s: &serde_json::Value, key: &str) -> Result<Option<RopeScaling>> {
        let kind = s
            .get("rope_type")
            .or_else(|| s.get("type"))
            .and_then(|x| x.as_str())
            .unwrap_or("default");
        let f = |k: &str| {
            s.get(k)
                .and_then(|x| x.as_f64())
                .ok_or_else(|| self.err(&format!("{key}.{k}"), "missing or not a number"))
        };
        match kind {
            "default" => Ok(None),
            "linear" => Ok(Some(RopeScaling::Linear {
                factor: f("factor")?,
            })),
            "llama3" => Ok(Some(RopeScaling::Llama3 {
                factor: f("factor")?,
                high_freq_factor: f("high_freq_factor")?,
                low_freq_factor: f("low_freq_factor")?,
                original_max_position_embeddings: f("original_max_position_embeddings")? as usize,
            })),
            other => Err(self.err(
                &format!("{key}.rope_type"),
                format!("'{other}' is not supported (default, linear, llama3)"),
            )),
        }
    }

    /// `layer_types` (`full_attention` / `sliding_attention`) if given, else `default(i)` for
    /// each layer (true = sliding).
    pub fn sliding_layers(&self, n: usize, default: impl Fn(usize) -> bool) -> Result<Vec<bool>> {
        let Some(types) = self.get("layer_types") else {
            return Ok((0..n).map(default).collect());
        };
        let arr = types
            .as_array()
            .ok_or_else(|| self.err("layer_types", "not a list"))?;
        if arr.len() != n {
            return Err(self.err(
                "layer_types",
                format!("{} entries for {n} layers", arr.len()),
            ));
        }
        arr.iter()
            .map(|t| match t.as_str() {
                Some("full_attention") => Ok(false),
                Some("sliding_attention") => Ok(true),
                _ => Err(self.err("layer_types", format!("{t} is not supported"))),
            })
            .collect()
    }
}

/// The shape fields common to every family.
#[derive(Debug, Clone, Copy)]
pub struct Shapes {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Residual width.
    pub hidden_size: usize,
    /// MLP width.
    pub intermediate_size: usize,
    /// Blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads.
    pub num_kv_heads: usize,
    /// Head width.
    pub head_dim: usize,
}

impl Shapes {
    /// A config with these shapes and Llama defaults for everything else (families override).
    pub fn config(self, family: &str, norm_eps: f64, rope: Rope) -> ModelConfig {
        ModelConfig {
            family: family.to_string(),
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_layers: self.num_layers,
            num_heads: self.num_heads,
            num_kv_heads: self.num_kv_heads,
            head_dim: self.head_dim,
            norm: NormKind::Rms,
            norm_eps,
            act: Activation::Silu,
            rope,
            rope_local: None,
            layers: vec![
                LayerSpec {
                    window: None,
                    local_rope: false,
                };
                self.num_layers
            ],
            attn_scale: 1.0 / (self.head_dim as f64).sqrt(),
            attn_softcap: None,
            final_softcap: None,
            embed_scale: None,
            qkv_bias: false,
            clip_qkv: None,
            tie_word_embeddings: false,
        }
    }
}

/// GGUF metadata of one architecture, with typed getters whose errors name the key and file.
pub struct GgufMeta<'a> {
    /// The file's header.
    pub content: &'a Content,
    /// `general.architecture`, the prefix of the architecture keys.
    pub arch: String,
    /// The file, for errors.
    pub path: &'a Path,
}

impl<'a> GgufMeta<'a> {
    /// Wrap a GGUF header; errors when `general.architecture` is missing.
    pub fn new(content: &'a Content, path: &'a Path) -> Result<Self> {
        let arch = match content.metadata.get("general.architecture") {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(LlmError::model_file(
                    path,
                    "GGUF metadata lacks `general.architecture`",
                ))
            }
        };
        Ok(GgufMeta {
            content,
            arch,
            path,
        })
    }

    /// `<arch>.<key>` as an integer, if present.
    pub fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        let k = format!("{}.{key}", self.arch);
        match self.content.metadata.get(&k) {
            None => Ok(None),
            Some(v) => v
                .to_u64()
                .ok()
                .or_else(|| v.to_u32().ok().map(u64::from))
                .or_else(|| v.to_i32().ok().and_then(|x| u64::try_from(x).ok()))
                .and_then(|x| usize::try_from(x).ok())
                .map(Some)
                .ok_or_else(|| {
                    LlmError::model_file(
                        self.path,
                        format!("GGUF metadata `{k}` is not a non-negative integer"),
                    )
                }),
        }
    }

    /// `<arch>.<key>` as an integer, required.
    pub fn usize(&self, key: &str) -> Result<usize> {
        self.opt_usize(key)?.ok_or_else(|| {
            LlmError::model_file(
                self.path,
                format!("GGUF metadata lacks `{}.{key}`", self.arch),
            )
        })
    }

    /// `<arch>.<key>` as a float, if present.
    pub fn opt_f64(&self, key: &str) -> Result<Option<f64>> {
        let k = format!("{}.{key}", self.arch);
        match self.content.metadata.get(&k) {
            None => Ok(None),
            Some(Value::F32(x)) => Ok(Some(*x as f64)),
            Some(Value::F64(x)) => Ok(Some(*x)),
            Some(_) => Err(LlmError::model_file(
                self.path,
                format!("GGUF metadata `{k}` is not a float"),
            )),
        }
    }

    /// Whether the file holds tensor `name`.
    pub fn has_tensor(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    /// The shape fields, from the llama.cpp keys every architecture has; the vocabulary is the
    /// embedding's row count.
    pub fn shapes(&self) -> Result<Shapes> {
        let hidden_size = self.usize("embedding_length")?;
        let num_heads = self.usize("attention.head_count")?;
        if num_heads == 0 {
            return Err(LlmError::model_file(
                self.path,
                format!("GGUF metadata `{}.attention.head_count` is 0", self.arch),
            ));
        }
        let embd = self
            .content
            .tensor_infos
            .get("token_embd.weight")
            .ok_or_else(|| {
                LlmError::model_file(self.path, "GGUF file lacks tensor `token_embd.weight`")
            })?;
        Ok(Shapes {
            vocab_size: embd.shape.dims().first().copied().unwrap_or(0),
            hidden_size,
            intermediate_size: self.usize("feed_forward_length")?,
            num_layers: self.usize("block_count")?,
            num_heads,
            num_kv_heads: self
                .opt_usize("attention.head_count_kv")?
                .unwrap_or(num_heads),
            head_dim: self
                .opt_usize("attention.key_length")?
                .unwrap_or(hidden_size / num_heads),
        })
    }

    /// A config from the common keys: shapes, RMS epsilon (default 1e-5), RoPE base (default
    /// 10000), q/k/v bias and a tied head read off the tensor list.
    pub fn config(&self, family: &str) -> Result<ModelConfig> {
        let eps = match self.opt_f64("attention.layer_norm_rms_epsilon")? {
            Some(e) => e,
            None => self
                .opt_f64("attention.layer_norm_epsilon")?
                .unwrap_or(1e-5),
        };
        let theta = self.opt_f64("rope.freq_base")?.unwrap_or(10_000.0);
        let mut cfg = self.shapes()?.config(family, eps, Rope::plain(theta));
        cfg.qkv_bias = self.has_tensor("blk.0.attn_q.bias");
        cfg.tie_word_embeddings = !self.has_tensor("output.weight");
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> std::path::PathBuf {
        let p = dir.join("config.json");
        std::fs::write(&p, text).unwrap();
        p
    }

    const LLAMA: &str = r#""model_type":"llama","vocab_size":100,"hidden_size":16,"intermediate_size":32,
        "num_hidden_layers":2,"num_attention_heads":4"#;

    #[test]
    fn parses_llama_and_qwen2() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            r#"{"model_type":"llama","vocab_size":100,"hidden_size":16,"intermediate_size":32,
               "num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"rms_norm_eps":1e-5,
               "rope_theta":10000.0,"tie_word_embeddings":true,"hidden_act":"silu","torch_dtype":"bfloat16"}"#,
        );
        let c = ModelConfig::from_hf_json(&p).unwrap();
        assert_eq!(
            (c.family.as_str(), c.head_dim, c.num_kv_heads, c.qkv_bias),
            ("llama", 4, 2, false)
        );
        assert!(c.tie_word_embeddings);
        let p = write(
            dir.path(),
            r#"{"model_type":"qwen2","vocab_size":100,"hidden_size":16,"intermediate_size":32,
               "num_hidden_layers":2,"num_attention_heads":4}"#,
        );
        let c = ModelConfig::from_hf_json(&p).unwrap();
        assert!(c.qkv_bias);
        assert_eq!(c.num_kv_heads, 4);
    }

    #[test]
    fn reads_rope_parameters_of_transformers_5_and_the_older_keys() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(
            dir.path(),
            &format!(
                r#"{{{LLAMA},"rope_parameters":{{"rope_theta":50000.0,"rope_type":"default"}}}}"#
            ),
        );
        assert_eq!(ModelConfig::from_hf_json(&p).unwrap().rope.theta, 50000.0);
        let p = write(dir.path(), &format!(r#"{{{LLAMA},"rope_theta":20000.0}}"#));
        assert_eq!(ModelConfig::from_hf_json(&p).unwrap().rope.theta, 20000.0);
        let p = write(
            dir.path(),
            &format!(
                r#"{{{LLAMA},"rope_parameters":{{"rope_theta":5e5,"rope_type":"llama3","factor":8.0,
                "high_freq_factor":4.0,"low_freq_factor":1.0,"original_max_position_embeddings":8192}}}}"#
            ),
        );
        let c = ModelConfig::from_hf_json(&p).unwrap();
        assert!(matches!(c.rope.scaling, Some(RopeScaling::Llama3 { .. })));
        let p = write(
            dir.path(),
            &format!(
                r#"{{{LLAMA},"rope_parameters":{{"rope_theta":5e5,"rope_type":"yarn","factor":8.0}}}}"#
            ),
        );
        let e = ModelConfig::from_hf_json(&p).unwrap_err().to_string();
        assert!(
            e.contains("rope_parameters.rope_type") && e.contains("yarn"),
            "{e}"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), r#"{"model_type":"llama","vocab_size":100}"#);
        let e = ModelConfig::from_hf_json(&p).unwrap_err().to_string();
        assert!(
            e.contains("hidden_size") && e.contains("config.json"),
            "{e}"
        );
        let p = write(dir.path(), r#"{"model_type":"gpt_neox"}"#);
        let e = ModelConfig::from_hf_json(&p).unwrap_err().to_string();
        assert!(e.contains("gpt_neox") && e.contains("gemma2"), "{e}");
        let p = write(dir.path(), "{not json");
        let e = ModelConfig::from_hf_json(&p).unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        let p = write(
            dir.path(),
            r#"{"model_type":"llama","vocab_size":100,"hidden_size":16,"intermediate_size":32,"num_hidden_layers":2,
               "num_attention_heads":4,"num_key_value_heads":3}"#,
        );
        let e = ModelConfig::from_hf_json(&p).unwrap_err().to_string();
        assert!(e.contains("num_key_value_heads"), "{e}");
        let p = write(dir.path(), &format!(r#"{{{LLAMA},"hidden_act":"relu"}}"#));
        let e = ModelConfig::from_hf_json(&p).unwrap_err().to_string();
        assert!(e.contains("hidden_act") && e.contains("relu"), "{e}");
        let p = write(dir.path(), &format!(r#"{{{LLAMA},"mlp_bias":true}}"#));
        let e = ModelConfig::from_hf_json(&p).unwrap_err().to_string();
        assert!(e.contains("mlp_bias"), "{e}");
    }

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        let mut r = Rope::plain(500_000.0);
        let plain = r.inv_freq(128);
        r.scaling = Some(RopeScaling::Llama3 {
            factor: 8.0,
            high_freq_factor: 4.0,
            low_freq_factor: 1.0,
            original_max_position_embeddings: 8192,
        });
        let scaled = r.inv_freq(128);
        assert_eq!(plain[0], scaled[0]);
        assert!((plain[63] / scaled[63] - 8.0).abs() < 1e-4);
    }
}
