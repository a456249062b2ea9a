//! Gemma 2: Gemma's norms and GeGLU with a norm before and after both attention and MLP,
//! attention and final-logit soft-capping, attention scaled by `query_pre_attn_scalar^-1/2`, and a
//! sliding window on alternating layers (even layers slide).
use super::gemma::gemma_common;
use super::{attention, mlp, Family};
use crate::config::{GgufMeta, HfJson, LayerSpec, ModelConfig};
use crate::error::Result;
use crate::model::Block;
use crate::weights::{Fix, Scope};

/// The Gemma 2 family.
pub struct Gemma2;

/// A block with norms before and after attention and MLP (`input_layernorm`,
/// `post_attention_layernorm`, `pre_feedforward_layernorm`, `post_feedforward_layernorm`).
pub fn sandwich_block(cfg: &ModelConfig, vb: &mut Scope) -> Result<Block> {
    let h = cfg.hidden_size;
    let fix = Fix::PlusOne;
    let attn_norm = Some(vb.norm("input_layernorm", "attn_norm", h, fix)?);
    let (q, k, v, o) = attention(cfg, vb, false)?;
    let attn_post_norm =
        Some(vb.norm("post_attention_layernorm", "post_attention_norm", h, fix)?);
    let mlp_norm = Some(vb.norm("pre_feedforward_layernorm", "ffn_norm", h, fix)?);
    let (gate, up, down) = mlp(cfg, vb)?;
    let mlp_post_norm = Some(vb.norm("post_feedforward_layernorm", "post_ffw_norm", h, fix)?);
    Ok(Block {
        attn_norm,
        q,
        k,
        v,
        o,
        q_norm: None,
        k_norm: None,
        attn_post_norm,
        mlp_norm,
        gate,
        up,
        down,
        mlp_post_norm,
    })
}

/// Per-layer specs: sliding layers get `window` and the local RoPE.
pub fn windows(sliding: &[bool], window: Option<usize>) -> Vec<LayerSpec> {
    sliding
        .iter()
        .map(|&s| LayerSpec {
            window: if s { window } else { None },
            local_rope: s,
        })
        .collect()
}

/// llama.cpp's Gemma 2/3 attention scale: `1/√(hidden/heads)` for the 27B models (recognized by
/// their layer count), else `1/√head_dim`; GGUF files do not store `query_pre_attn_scalar`.
pub fn gguf_attn_scale(cfg: &ModelConfig, layers_27b: usize) -> f64 {
    let scalar = if cfg.num_layers == layers_27b {
        cfg.hidden_size / cfg.num_heads
    } else {
        cfg.head_dim
    };
    1.0 / (scalar as f64).sqrt()
}

impl Family for Gemma2 {
    fn name(&self) -> &'static str {
        "gemma2"
    }

    fn model_types(&self) -> &'static [&'static str] {
        &["gemma2"]
    }

    fn gguf_archs(&self) -> &'static [&'static str] {
        &["gemma2"]
    }

    fn config_from_hf(&self, c: &HfJson) -> Result<ModelConfig> {
        c.refuse("use_bidirectional_attention", |v| v.as_bool() == Some(true))?;
        let mut cfg = c.shapes()?.config(
            self.name(),
            c.f64_or("rms_norm_eps", 1e-6)?,
            c.rope(None, 10_000.0)?,
        );
        gemma_common(&mut cfg, Some(c))?;
        cfg.attn_scale = 1.0 / c.f64_or("query_pre_attn_scalar", 256.0)?.sqrt();
        cfg.attn_softcap = c.opt_f64("attn_logit_softcapping")?;
        cfg.final_softcap = c.opt_f64("final_logit_softcapping")?;
        let sliding = c.sliding_layers(cfg.num_layers, |i| i % 2 == 0)?;
        cfg.layers = windows(&sliding, c.opt_usize("sliding_window")?);
        for l in &mut cfg.layers {
            l.local_rope = false;
        }
        Ok(cfg)
    }

    fn config_from_gguf(&self, g: &GgufMeta) -> Result<ModelConfig> {
        let mut cfg = g.config(self.name())?;
        gemma_common(&mut cfg, None)?;
        cfg.attn_scale = gguf_attn_scale(&cfg, 46);
        cfg.attn_softcap = g.opt_f64("attn_logit_softcapping")?;
        cfg.final_softcap = g.opt_f64("final_logit_softcapping")?;
        let sliding: Vec<bool> = (0..cfg.num_layers).map(|i| i % 2 == 0).collect();
        cfg.layers = windows(&sliding, g.opt_usize("attention.sliding_window")?);
        for l in &mut cfg.layers {
            l.local_rope = false;
        }
        Ok(cfg)
    }

    fn block(&self, cfg: &ModelConfig, vb: &mut Scope) -> Result<Block> {
        sandwich_block(cfg, vb)
    }

    fn norm_fix(&self) -> Fix {
        Fix::PlusOne
    }
}
