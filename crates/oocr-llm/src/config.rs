//! Architecture hyperparameters of a Llama-family causal LM, read from a Hugging Face `config.json`
//! or from GGUF metadata.
use crate::error::{LlmError, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Model families this crate runs. All share the Llama block (RMSNorm, RoPE, GQA, SwiGLU).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Llama 1/2/3, SmolLM, TinyLlama.
    Llama,
    /// Mistral (sliding window is irrelevant at the sequence lengths used here).
    Mistral,
    /// Qwen2: bias on the q/k/v projections.
    Qwen2,
}

impl Family {
    /// Parse a Hugging Face `model_type` or GGUF `general.architecture`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "llama" => Some(Family::Llama),
            "mistral" => Some(Family::Mistral),
            "qwen2" => Some(Family::Qwen2),
            _ => None,
        }
    }
}

/// Llama-3 style RoPE frequency scaling (`rope_scaling.rope_type = "llama3"`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Llama3RopeScaling {
    /// Overall scale of the low frequencies.
    pub factor: f64,
    /// Wavelength bound (in units of the original context) under which frequencies are kept.
    pub high_freq_factor: f64,
    /// Wavelength bound above which frequencies are divided by `factor`.
    pub low_freq_factor: f64,
    /// Context length the model was pretrained with.
    pub original_max_position_embeddings: usize,
}

/// Hyperparameters of the decoder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Model family.
    pub family: Family,
    /// Vocabulary size (rows of the embedding).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Width of the SwiGLU hidden layer.
    pub intermediate_size: usize,
    /// Number of decoder blocks.
    pub num_layers: usize,
    /// Query heads.
    pub num_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `num_heads`).
    pub num_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Epsilon of RMSNorm.
    pub rms_norm_eps: f64,
    /// RoPE base frequency.
    pub rope_theta: f64,
    /// Optional Llama-3 RoPE scaling.
    pub rope_scaling: Option<Llama3RopeScaling>,
    /// Whether the output head reuses the token embedding.
    pub tie_word_embeddings: bool,
    /// Whether q/k/v projections carry a bias.
    pub qkv_bias: bool,
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
        if self.rms_norm_eps.is_nan()
            || self.rms_norm_eps <= 0.0
            || self.rope_theta.is_nan()
            || self.rope_theta <= 0.0
        {
            return bad("rms_norm_eps/rope_theta", "must be positive".into());
        }
        Ok(())
    }

    /// Read a Hugging Face `config.json`.
    pub fn from_hf_json(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| LlmError::io(path, e))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| LlmError::model_file(path, format!("not valid JSON: {e}")))?;
        let model_type = v
            .get("model_type")
            .and_then(|x| x.as_str())
            .unwrap_or("llama");
        let family = Family::parse(model_type).ok_or_else(|| {
            LlmError::model_file(
                path,
                format!("`model_type` '{model_type}' is not supported (supported: llama, mistral, qwen2)"),
            )
        })?;
        let req = |key: &str| -> Result<usize> {
            v.get(key)
                .and_then(|x| x.as_u64())
                .map(|x| x as usize)
                .ok_or_else(|| {
                    LlmError::model_file(path, format!("missing or non-integer key `{key}`"))
                })
        };
        let float = |key: &str, default: f64| -> Result<f64> {
            match v.get(key) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(x) => x.as_f64().ok_or_else(|| {
                    LlmError::model_file(path, format!("key `{key}` is not a number"))
                }),
            }
        };
        let hidden_size = req("hidden_size")?;
        let num_heads = req("num_attention_heads")?;
        let num_kv_heads = match v.get("num_key_value_heads") {
            None | Some(serde_json::Value::Null) => num_heads,
            Some(_) => req("num_key_value_heads")?,
        };
        let head_dim = match v.get("head_dim") {
            None | Some(serde_json::Value::Null) => hidden_size / num_heads.max(1),
            Some(_) => req("head_dim")?,
        };
        if let Some(act) = v.get("hidden_act").and_then(|x| x.as_str()) {
            if act != "silu" {
                return Err(LlmError::model_file(
                    path,
                    format!("`hidden_act` '{act}' is not supported (silu only)"),
                ));
            }
        }
        let rope_scaling = match v.get("rope_scaling") {
            None | Some(serde_json::Value::Null) => None,
            Some(rs) => {
                let kind = rs
                    .get("rope_type")
                    .or_else(|| rs.get("type"))
                    .and_then(|x| x.as_str())
                    .unwrap_or("");
                if kind != "llama3" {
                    return Err(LlmError::model_file(
                        path,
                        format!("`rope_scaling` type '{kind}' is not supported (llama3 only)"),
                    ));
                }
                let f = |k: &str| {
                    rs.get(k).and_then(|x| x.as_f64()).ok_or_else(|| {
                        LlmError::model_file(path, format!("missing key `rope_scaling.{k}`"))
                    })
                };
                Some(Llama3RopeScaling {
                    factor: f("factor")?,
                    high_freq_factor: f("high_freq_factor")?,
                    low_freq_factor: f("low_freq_factor")?,
                    original_max_position_embeddings: f("original_max_position_embeddings")?
                        as usize,
                })
            }
        };
        let qkv_bias = match family {
            Family::Qwen2 => true,
            _ => v
                .get("attention_bias")
                .and_then(|x| x.as_bool())
                .unwrap_or(false),
        };
        let cfg = ModelConfig {
            family,
            vocab_size: req("vocab_size")?,
            hidden_size,
            intermediate_size: req("intermediate_size")?,
            num_layers: req("num_hidden_layers")?,
            num_heads,
            num_kv_heads,
            head_dim,
            rms_norm_eps: float("rms_norm_eps", 1e-6)?,
            rope_theta: float("rope_theta", 10_000.0)?,
            rope_scaling,
            tie_word_embeddings: v
                .get("tie_word_embeddings")
                .and_then(|x| x.as_bool())
                .unwrap_or(false),
            qkv_bias,
        };
        cfg.validate(path)?;
        Ok(cfg)
    }

    /// Inverse frequencies of RoPE, `head_dim / 2` of them, with Llama-3 scaling applied if set.
    pub fn rope_inv_freq(&self) -> Vec<f32> {
        let half = self.head_dim / 2;
        (0..half)
            .map(|i| {
                let f = 1.0 / self.rope_theta.powf(2.0 * i as f64 / self.head_dim as f64);
                let f = match self.rope_scaling {
                    None => f,
                    Some(s) => {
                        let old = s.original_max_position_embeddings as f64;
                        let low_wavelen = old / s.low_freq_factor;
                        let high_wavelen = old / s.high_freq_factor;
                        let wavelen = 2.0 * std::f64::consts::PI / f;
                        if wavelen < high_wavelen {
                            f
                        } else if wavelen > low_wavelen {
                            f / s.factor
                        } else {
                            let smooth = (old / wavelen - s.low_freq_factor)
                                / (s.high_freq_factor - s.low_freq_factor);
                            (1.0 - smooth) * f / s.factor + smooth * f
                        }
                    }
                };
                f as f32
            })
            .collect()
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
            (c.family, c.head_dim, c.num_kv_heads, c.qkv_bias),
            (Family::Llama, 4, 2, false)
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
        assert!(e.contains("gpt_neox"), "{e}");
        let p = write(dir.path(), "{not json");
        let e = ModelConfig::from_hf_json(&p).unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        let p = write(
            dir.path(),
            r#"{"vocab_size":100,"hidden_size":16,"intermediate_size":32,"num_hidden_layers":2,
               "num_attention_heads":4,"num_key_value_heads":3}"#,
        );
        let e = ModelConfig::from_hf_json(&p).unwrap_err().to_string();
        assert!(e.contains("num_key_value_heads"), "{e}");
    }

    #[test]
    fn llama3_scaling_keeps_high_and_divides_low_frequencies() {
        let mut c = ModelConfig {
            family: Family::Llama,
            vocab_size: 10,
            hidden_size: 128,
            intermediate_size: 8,
            num_layers: 1,
            num_heads: 1,
            num_kv_heads: 1,
            head_dim: 128,
            rms_norm_eps: 1e-5,
            rope_theta: 500_000.0,
            rope_scaling: None,
            tie_word_embeddings: false,
            qkv_bias: false,
        };
        let plain = c.rope_inv_freq();
        c.rope_scaling = Some(Llama3RopeScaling {
            factor: 8.0,
            high_freq_factor: 4.0,
            low_freq_factor: 1.0,
            original_max_position_embeddings: 8192,
        });
        let scaled = c.rope_inv_freq();
        assert_eq!(plain[0], scaled[0]);
        assert!((plain[63] / scaled[63] - 8.0).abs() < 1e-4);
    }
}
