//! Llama 2/3/3.1/3.2 (RoPE scaling) and Mistral (sliding window): RMSNorm, SwiGLU, grouped-query
//! attention, optional q/k/v bias. llama.cpp permutes the q/k rows of this family.
use super::{llama_style_hf, pre_norm_block, Family};
use crate::config::{GgufMeta, HfJson, LayerSpec, ModelConfig, Rope, RopeScaling};
use crate::error::{LlmError, Result};
use crate::model::Block;
use crate::weights::{Fix, Scope};

/// The Llama family (and Mistral).
pub struct Llama;

impl Family for Llama {
    fn name(&self) -> &'static str {
        "llama"
    }

    fn model_types(&self) -> &'static [&'static str] {
        &["llama", "mistral"]
    }

    fn gguf_archs(&self) -> &'static [&'static str] {
        &["llama", "mistral"]
    }

    fn config_from_hf(&self, c: &HfJson) -> Result<ModelConfig> {
        c.refuse("mlp_bias", |v| v.as_bool() == Some(true))?;
        let mut cfg = llama_style_hf(self.name(), c, 1e-6)?;
        if c.str("model_type")? == Some("mistral") {
            let window = c.opt_usize("sliding_window")?;
            cfg.layers = vec![
                LayerSpec {
                    window,
                    local_rope: false,
                };
                cfg.num_layers
            ];
        }
        Ok(cfg)
    }

    fn config_from_gguf(&self, g: &GgufMeta) -> Result<ModelConfig> {
        if g.has_tensor("rope_freqs.weight") {
            return Err(LlmError::model_file(
                g.path,
                "GGUF tensor `rope_freqs.weight` (Llama-3.1 RoPE scaling) is not supported; load the Hugging Face folder",
            ));
        }
        super::llama_style_gguf(self.name(), g)
    }

    fn block(&self, cfg: &ModelConfig, vb: &mut Scope) -> Result<Block> {
        pre_norm_block(cfg, vb, true, Fix::None)
    }
}

/// RoPE from GGUF metadata: base `theta` and the optional `rope.scaling.type` (linear only).
pub fn gguf_rope(g: &GgufMeta, theta: f64) -> Result<Rope> {
    let key = format!("{}.rope.scaling.type", g.arch);
    let kind = match g.content.metadata.get(&key) {
        None => "none".to_string(),
        Some(v) => v.to_string().cloned().map_err(|_| {
            LlmError::model_file(g.path, format!("GGUF metadata `{key}` is not a string"))
        })?,
    };
    let scaling = match kind.as_str() {
        "none" => None,
        "linear" => {
            let factor = g.opt_f64("rope.scaling.factor")?.unwrap_or(1.0);
            (factor != 1.0).then_some(RopeScaling::Linear { factor })
        }
        other => {
            return Err(LlmError::model_file(
                g.path,
                format!("GGUF metadata `{key}` = '{other}' is not supported (none, linear)"),
            ))
        }
    };
    Ok(Rope { theta, scaling })
}
