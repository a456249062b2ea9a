//! Gemma 1: `(1 + w)` RMSNorm, GeGLU with tanh-GELU, embeddings scaled by √hidden, tied head.
//! llama.cpp stores the norm weights as `1 + w` and does not permute q/k.
use super::{pre_norm_block, Family};
use crate::config::{Activation, GgufMeta, HfJson, ModelConfig, NormKind};
use crate::error::Result;
use crate::model::Block;
use crate::weights::{Fix, Scope};

/// The Gemma (1) family.
pub struct Gemma;

/// The settings every Gemma generation shares: `(1 + w)` norms, tanh-GELU, √hidden embedding
/// scale, a tied head by default.
pub fn gemma_common(cfg: &mut ModelConfig, c: Option<&HfJson>) -> Result<()> {
    cfg.norm = NormKind::RmsOffset;
    cfg.embed_scale = Some((cfg.hidden_size as f64).sqrt());
    if let Some(c) = c {
        cfg.act = c.activation(&["hidden_activation"], Activation::GeluTanh)?;
        cfg.qkv_bias = c.bool_or("attention_bias", false)?;
        cfg.tie_word_embeddings = c.bool_or("tie_word_embeddings", true)?;
    } else {
        cfg.act = Activation::GeluTanh;
    }
    Ok(())
}

impl Family for Gemma {
    fn name(&self) -> &'static str {
        "gemma"
    }

    fn model_types(&self) -> &'static [&'static str] {
        &["gemma"]
    }

    fn gguf_archs(&self) -> &'static [&'static str] {
        &["gemma"]
    }

    fn config_from_hf(&self, c: &HfJson) -> Result<ModelConfig> {
        let mut cfg = c.shapes()?.config(
            self.name(),
            c.f64_or("rms_norm_eps", 1e-6)?,
            c.rope(None, 10_000.0)?,
        );
        gemma_common(&mut cfg, Some(c))?;
        Ok(cfg)
    }

    fn config_from_gguf(&self, g: &GgufMeta) -> Result<ModelConfig> {
        let mut cfg = g.config(self.name())?;
        gemma_common(&mut cfg, None)?;
        Ok(cfg)
    }

    fn block(&self, cfg: &ModelConfig, vb: &mut Scope) -> Result<Block> {
        pre_norm_block(cfg, vb, false, Fix::PlusOne)
    }

    fn norm_fix(&self) -> Fix {
        Fix::PlusOne
    }
}
