//! Gemma 3 (text): Gemma 2's block with a `(1 + w)` RMSNorm on each query and key head, local
//! (sliding-window) and global layers — every `sliding_window_pattern`-th layer is global — with
//! their own RoPE bases (`rope_local_base_freq` for local layers), and no soft-capping by default.
use super::gemma::gemma_common;
use super::gemma2::{gguf_attn_scale, sandwich_block, windows};
use super::Family;
use crate::config::{GgufMeta, HfJson, ModelConfig, Rope};
use crate::error::{LlmError, Result};
use crate::model::Block;
use crate::weights::{Fix, Scope};
use candle_core::quantized::gguf_file::Value;

/// The Gemma 3 family.
pub struct Gemma3;

impl Family for Gemma3 {
    fn name(&self) -> &'static str {
        "gemma3"
    }

    fn model_types(&self) -> &'static [&'static str] {
        &["gemma3_text"]
    }

    fn gguf_archs(&self) -> &'static [&'static str] {
        &["gemma3"]
    }

    fn config_from_hf(&self, c: &HfJson) -> Result<ModelConfig> {
        c.refuse("use_bidirectional_attention", |v| v.as_bool() == Some(true))?;
        let rope = c.rope(Some("full_attention"), 1_000_000.0)?;
        let mut cfg = c
            .shapes()?
            .config(self.name(), c.f64_or("rms_norm_eps", 1e-6)?, rope);
        gemma_common(&mut cfg, Some(c))?;
        cfg.rope_local = Some(
            if c.v.get("rope_parameters").is_some_and(|p| !p.is_null()) {
                c.rope(
                    Some("sliding_attention"),
                    c.f64_or("rope_local_base_freq", 10_000.0)?,
                )?
            } else {
                Rope::plain(c.f64_or("rope_local_base_freq", 10_000.0)?)
            },
        );
        cfg.attn_scale = 1.0 / c.f64_or("query_pre_attn_scalar", 256.0)?.sqrt();
        cfg.attn_softcap = c.opt_f64("attn_logit_softcapping")?;
        cfg.final_softcap = c.opt_f64("final_logit_softcapping")?;
        let pattern = c.opt_usize("sliding_window_pattern")?.unwrap_or(6).max(1);
        let sliding = c.sliding_layers(cfg.num_layers, |i| (i + 1) % pattern != 0)?;
        cfg.layers = windows(&sliding, c.opt_usize("sliding_window")?);
        Ok(cfg)
    }

    fn config_from_gguf(&self, g: &GgufMeta) -> Result<ModelConfig> {
        let mut cfg = g.config(self.name())?;
        gemma_common(&mut cfg, None)?;
        cfg.rope = super::llama::gguf_rope(g, cfg.rope.theta)?;
        // Local layers: `rope.freq_base_swa` where the converter wrote it, else Gemma 3's
        // `rope_local_base_freq` of 10000 (older llama.cpp hard-codes it), never scaled.
        cfg.rope_local = Some(Rope::plain(
            g.opt_f64("rope.freq_base_swa")?.unwrap_or(10_000.0),
        ));
        cfg.attn_scale = gguf_attn_scale(&cfg, 62);
        cfg.attn_softcap = g.opt_f64("attn_logit_softcapping")?;
        cfg.final_softcap = g.opt_f64("final_logit_softcapping")?;
        let key = format!("{}.attention.sliding_window_pattern", g.arch);
        let sliding: Vec<bool> = match g.content.metadata.get(&key) {
            Some(Value::Array(a)) => {
                let v: Option<Vec<bool>> = a.iter().map(|x| x.to_bool().ok()).collect();
                match v {
                    Some(v) if v.len() == cfg.num_layers => v,
                    _ => {
                        return Err(LlmError::model_file(
                            g.path,
                            format!("GGUF metadata `{key}` is not a list of one bool per layer"),
                        ))
                    }
                }
            }
            _ => {
                let p = g
                    .opt_usize("attention.sliding_window_pattern")?
                    .unwrap_or(6)
                    .max(1);
                (0..cfg.num_layers).map(|i| (i + 1) % p != 0).collect()
            }
        };
        cfg.layers = windows(&sliding, g.opt_usize("attention.sliding_window")?);
        Ok(cfg)
    }

    fn block(&self, cfg: &ModelConfig, vb: &mut Scope) -> Result<Block> {
        let mut b = sandwich_block(cfg, vb)?;
        let hd = cfg.head_dim;
        b.q_norm = Some(vb.norm("self_attn.q_norm", "attn_q_norm", hd, Fix::PlusOne)?);
        b.k_norm = Some(vb.norm("self_attn.k_norm", "attn_k_norm", hd, Fix::PlusOne)?);
        Ok(b)
    }

    fn norm_fix(&self) -> Fix {
        Fix::PlusOne
    }
}
