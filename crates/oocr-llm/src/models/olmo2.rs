//! OLMo 2: RMSNorm after attention and after the MLP (none before), and an RMSNorm over the whole
//! query and key projections (before RoPE). llama.cpp does not permute q/k for this family.
use super::{attention, llama_style_hf, mlp, Family};
use crate::config::{HfJson, ModelConfig};
use crate::error::Result;
use crate::model::Block;
use crate::weights::{Fix, Scope};

/// The OLMo 2 family.
pub struct Olmo2;

impl Family for Olmo2 {
    fn name(&self) -> &'static str {
        "olmo2"
    }

    fn model_types(&self) -> &'static [&'static str] {
        &["olmo2"]
    }

    fn gguf_archs(&self) -> &'static [&'static str] {
        &["olmo2"]
    }

    fn config_from_hf(&self, c: &HfJson) -> Result<ModelConfig> {
        llama_style_hf(self.name(), c, 1e-5)
    }

    fn block(&self, cfg: &ModelConfig, vb: &mut Scope) -> Result<Block> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let (q, k, v, o) = attention(cfg, vb, false)?;
        let q_norm = Some(vb.norm(
            "self_attn.q_norm",
            "attn_q_norm",
            cfg.num_heads * hd,
            Fix::None,
        )?);
        let k_norm = Some(vb.norm(
            "self_attn.k_norm",
            "attn_k_norm",
            cfg.num_kv_heads * hd,
            Fix::None,
        )?);
        let attn_post_norm = Some(vb.norm(
            "post_attention_layernorm",
            "post_attention_norm",
            h,
            Fix::None,
        )?);
        let (gate, up, down) = mlp(cfg, vb)?;
        let mlp_post_norm =
            Some(vb.norm("post_feedforward_layernorm", "post_ffw_norm", h, Fix::None)?);
        Ok(Block {
            attn_norm: None,
            q,
            k,
            v,
            o,
            q_norm,
            k_norm,
            attn_post_norm,
            mlp_norm: None,
            gate,
            up,
            down,
            mlp_post_norm,
        })
    }
}
