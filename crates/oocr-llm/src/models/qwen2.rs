//! Qwen2 / Qwen2.5: the Llama block with a bias on the q/k/v projections; no q/k permutation in
//! GGUF files.
use super::{pre_norm_block, Family};
use crate::config::{Activation, GgufMeta, HfJson, ModelConfig};
use crate::error::Result;
use crate::model::Block;
use crate::weights::{Fix, Scope};

/// The Qwen2 family.
pub struct Qwen2;

impl Family for Qwen2 {
    fn name(&self) -> &'static str {
        "qwen2"
    }

    fn model_types(&self) -> &'static [&'static str] {
        &["qwen2"]
    }

    fn gguf_archs(&self) -> &'static [&'static str] {
        &["qwen2"]
    }

    fn config_from_hf(&self, c: &HfJson) -> Result<ModelConfig> {
        c.refuse("use_sliding_window", |v| v.as_bool() == Some(true))?;
        let mut cfg = c.shapes()?.config(
            self.name(),
            c.f64_or("rms_norm_eps", 1e-6)?,
            c.rope(None, 10_000.0)?,
        );
        cfg.act = c.activation(&["hidden_act"], Activation::Silu)?;
        cfg.qkv_bias = true;
        cfg.tie_word_embeddings = c.bool_or("tie_word_embeddings", false)?;
        Ok(cfg)
    }

    fn config_from_gguf(&self, g: &GgufMeta) -> Result<ModelConfig> {
        let mut cfg = g.config(self.name())?;
        cfg.rope = super::llama::gguf_rope(g, cfg.rope.theta)?;
        Ok(cfg)
    }

    fn block(&self, cfg: &ModelConfig, vb: &mut Scope) -> Result<Block> {
        pre_norm_block(cfg, vb, false, Fix::None)
    }
}
