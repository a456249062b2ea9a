//! OLMo 1: the Llama block with non-parametric LayerNorm (no weights anywhere, eps 1e-5) and
//! optional clamping of q, k and v (`clip_qkv`). llama.cpp permutes the q/k rows.
use super::{attention, mlp, Family};
use crate::config::{Activation, GgufMeta, HfJson, ModelConfig, NormKind};
use crate::error::Result;
use crate::model::{Block, Norm};
use crate::weights::Scope;

/// The OLMo (1) family.
pub struct Olmo;

impl Family for Olmo {
    fn name(&self) -> &'static str {
        "olmo"
    }

    fn model_types(&self) -> &'static [&'static str] {
        &["olmo"]
    }

    fn gguf_archs(&self) -> &'static [&'static str] {
        &["olmo"]
    }

    fn config_from_hf(&self, c: &HfJson) -> Result<ModelConfig> {
        let mut cfg = c
            .shapes()?
            .config(self.name(), 1e-5, c.rope(None, 10_000.0)?);
        cfg.norm = NormKind::LayerNorm;
        cfg.act = c.activation(&["hidden_act"], Activation::Silu)?;
        cfg.qkv_bias = c.bool_or("attention_bias", false)?;
        cfg.clip_qkv = c.opt_f64("clip_qkv")?;
        cfg.tie_word_embeddings = c.bool_or("tie_word_embeddings", false)?;
        Ok(cfg)
    }

    fn config_from_gguf(&self, g: &GgufMeta) -> Result<ModelConfig> {
        let mut cfg = super::llama_style_gguf(self.name(), g)?;
        cfg.norm = NormKind::LayerNorm;
        cfg.clip_qkv = g.opt_f64("attention.clamp_kqv")?;
        Ok(cfg)
    }

    fn block(&self, cfg: &ModelConfig, vb: &mut Scope) -> Result<Block> {
        let (q, k, v, o) = attention(cfg, vb, true)?;
        let (gate, up, down) = mlp(cfg, vb)?;
        Ok(Block {
            attn_norm: Some(Norm::plain()),
            q,
            k,
            v,
            o,
            q_norm: None,
            k_norm: None,
            attn_post_norm: None,
            mlp_norm: Some(Norm::plain()),
            gate,
            up,
            down,
            mlp_post_norm: None,
        })
    }
}
