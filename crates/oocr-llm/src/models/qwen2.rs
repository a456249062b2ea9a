//! Qwen2 / Qwen2.5: the Llama block with a bias on the q/k/v projections; no q/k permutation in
//! GGUF files.
use super::{llama_style_hf, pre_norm_block, Family};
use crate::config::{HfJson, ModelConfig};
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
        let mut cfg = llama_style_hf(self.name(), c, 1e-6)?;
        cfg.qkv_bias = true;
        Ok(cfg)
    }

    fn block(&self, cfg: &ModelConfig, vb: &mut Scope) -> Result<Block> {
        pre_norm_block(cfg, vb, false, Fix::None)
    }
}
