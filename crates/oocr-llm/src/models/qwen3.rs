//! Qwen3: the Llama block with a per-head RMSNorm on queries and keys (before RoPE), no q/k/v
//! bias by default; no q/k permutation in GGUF files.
use super::{llama_style_hf, pre_norm_block, Family};
use crate::config::{HfJson, ModelConfig};
use crate::error::Result;
use crate::model::Block;
use crate::weights::{Fix, Scope};

/// The Qwen3 family.
pub struct Qwen3;

impl Family for Qwen3 {
    fn name(&self) -> &'static str {
        "qwen3"
    }

    fn model_types(&self) -> &'static [&'static str] {
        &["qwen3"]
    }

    fn gguf_archs(&self) -> &'static [&'static str] {
        &["qwen3"]
    }

    fn config_from_hf(&self, c: &HfJson) -> Result<ModelConfig> {
        c.refuse("use_sliding_window", |v| v.as_bool() == Some(true))?;
        llama_style_hf(self.name(), c, 1e-6)
    }

    fn block(&self, cfg: &ModelConfig, vb: &mut Scope) -> Result<Block> {
        let mut b = pre_norm_block(cfg, vb, false, Fix::None)?;
        let hd = cfg.head_dim;
        b.q_norm = Some(vb.norm("self_attn.q_norm", "attn_q_norm", hd, Fix::None)?);
        b.k_norm = Some(vb.norm("self_attn.k_norm", "attn_k_norm", hd, Fix::None)?);
        Ok(b)
    }
}
