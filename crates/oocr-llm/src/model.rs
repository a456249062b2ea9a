//! The Llama-family decoder, written with differentiable candle ops only.
//!
//! candle's fused `softmax_last_dim`, `rms_norm` and `rope` kernels record no backward pass, so
//! this file composes RMSNorm, RoPE (rotate-half layout, as in Hugging Face checkpoints) and the
//! attention softmax from elementary ops. Attention takes explicit positions and an additive mask,
//! so one sequence can hold a prompt followed by several candidate answers that each see only the
//! prompt (see `eval`).
use crate::config::ModelConfig;
use crate::error::{LlmError, Result};
use crate::grad_sink::GradSink;
use crate::linear::{lookup, matmul_t, Linear};
use candle_core::{DType, Device, Tensor, D};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// One decoder block.
#[derive(Debug, Clone)]
pub struct Block {
    /// RMSNorm weight before attention.
    pub attn_norm: Tensor,
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Output projection.
    pub o: Linear,
    /// RMSNorm weight before the MLP.
    pub mlp_norm: Tensor,
    /// SwiGLU gate projection.
    pub gate: Linear,
    /// SwiGLU up projection.
    pub up: Linear,
    /// SwiGLU down projection.
    pub down: Linear,
}

/// A causal language model of the Llama family.
#[derive(Debug, Clone)]
pub struct CausalLm {
    /// Hyperparameters.
    pub cfg: ModelConfig,
    /// Token embedding `(vocab, hidden)`; also the output head when tied.
    pub embed: Tensor,
    /// Decoder blocks.
    pub blocks: Vec<Block>,
    /// Final RMSNorm weight.
    pub norm: Tensor,
    /// Output head `(vocab, hidden)`; `None` when tied to the embedding.
    pub lm_head: Option<Tensor>,
    /// Gradient buffer of the embedding (and of the tied head) when fully fine-tuned.
    pub embed_sink: Option<Arc<GradSink>>,
    /// Gradient buffer of an untied head when fully fine-tuned.
    pub head_sink: Option<Arc<GradSink>>,
    inv_freq: Tensor,
}

/// Inputs of one forward pass: `ids` and `positions` are `(batch, len)`, `mask` is an additive
/// `(batch, 1, len, len)` mask (0 where a query may attend to a key, a large negative elsewhere).
#[derive(Debug, Clone)]
pub struct Inputs {
    /// Token ids, u32.
    pub ids: Tensor,
    /// RoPE positions, f32.
    pub positions: Tensor,
    /// Additive attention mask, f32.
    pub mask: Tensor,
}

/// Value added to the attention scores of masked pairs (finite, so fully masked rows cannot NaN).
pub const MASKED: f32 = -1e9;

fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    Ok(x.broadcast_mul(&(ms + eps)?.sqrt()?.recip()?)?
        .broadcast_mul(w)?)
}

/// Softmax over the last axis. The row maximum is detached: softmax does not depend on it, so its
/// gradient is exactly zero and need not be computed.
pub fn softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let e = x.broadcast_sub(&max)?.exp()?;
    Ok(e.broadcast_div(&e.sum_keepdim(D::Minus1)?)?)
}

/// Log-softmax over the last axis (row maximum detached, as in `softmax_last`).
pub fn log_softmax_last(x: &Tensor) -> Result<Tensor> {
    let max = x.max_keepdim(D::Minus1)?.detach();
    let d = x.broadcast_sub(&max)?;
    Ok(d.broadcast_sub(&d.exp()?.sum_keepdim(D::Minus1)?.log()?)?)
}

/// `x * cos + rotate_half(x) * sin` with `x: (b, h, t, d)`, `cos, sin: (b, 1, t, d)`.
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let half = x.dim(D::Minus1)? / 2;
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    Ok((x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?)?)
}

impl CausalLm {
    /// Build from tensors named as in Hugging Face checkpoints (`model.layers.0.self_attn.q_proj.weight`,
    /// …), all f32 on the CPU. `path` names the source in errors.
    pub fn from_tensors(
        cfg: ModelConfig,
        mut t: HashMap<String, Tensor>,
        path: &Path,
    ) -> Result<Self> {
        let (h, hd) = (cfg.hidden_size, cfg.head_dim);
        let has_head = t.contains_key("lm_head.weight");
        let mut take = |name: &str, shape: &[usize]| -> Result<Tensor> {
            let x = t
                .remove(name)
                .ok_or_else(|| LlmError::model_file(path, format!("missing tensor `{name}`")))?;
            if x.dims() != shape {
                return Err(LlmError::model_file(
                    path,
                    format!(
                        "tensor `{name}` has shape {:?}, expected {:?}",
                        x.dims(),
                        shape
                    ),
                ));
            }
            Ok(x.to_dtype(DType::F32)?.contiguous()?)
        };
        let embed = take("model.embed_tokens.weight", &[cfg.vocab_size, h])?;
        let mut blocks = Vec::with_capacity(cfg.num_layers);
        for i in 0..cfg.num_layers {
            let p = format!("model.layers.{i}");
            let mut lin = |name: &str, out: usize, inp: usize, bias: bool| -> Result<Linear> {
                let w = take(&format!("{p}.{name}.weight"), &[out, inp])?;
                let b = if bias {
                    Some(take(&format!("{p}.{name}.bias"), &[out])?)
                } else {
                    None
                };
                Ok(Linear::new(w, b))
            };
            let (nq, nkv, ff) = (
                cfg.num_heads * hd,
                cfg.num_kv_heads * hd,
                cfg.intermediate_size,
            );
            let q = lin("self_attn.q_proj", nq, h, cfg.qkv_bias)?;
            let k = lin("self_attn.k_proj", nkv, h, cfg.qkv_bias)?;
            let v = lin("self_attn.v_proj", nkv, h, cfg.qkv_bias)?;
            let o = lin("self_attn.o_proj", h, nq, false)?;
            let gate = lin("mlp.gate_proj", ff, h, false)?;
            let up = lin("mlp.up_proj", ff, h, false)?;
            let down = lin("mlp.down_proj", h, ff, false)?;
            blocks.push(Block {
                attn_norm: take(&format!("{p}.input_layernorm.weight"), &[h])?,
                mlp_norm: take(&format!("{p}.post_attention_layernorm.weight"), &[h])?,
                q,
                k,
                v,
                o,
                gate,
                up,
                down,
            });
        }
        let norm = take("model.norm.weight", &[h])?;
        let lm_head = if has_head && !cfg.tie_word_embeddings {
            Some(take("lm_head.weight", &[cfg.vocab_size, h])?)
        } else if cfg.tie_word_embeddings {
            None
        } else {
            return Err(LlmError::model_file(
                path,
                "missing tensor `lm_head.weight` (and tie_word_embeddings is false)",
            ));
        };
        let inv_freq = Tensor::from_vec(cfg.rope_inv_freq(), (1, 1, hd / 2), &Device::Cpu)?;
        Ok(CausalLm {
            cfg,
            embed,
            blocks,
            norm,
            lm_head,
            embed_sink: None,
            head_sink: None,
            inv_freq,
        })
    }

    /// Every parameter tensor by its Hugging Face name, in a fixed order (embedding, blocks, norm,
    /// head). LoRA adapters are not included.
    pub fn params_mut(&mut self) -> Vec<(String, &mut Tensor)> {
        let mut out: Vec<(String, &mut Tensor)> =
            vec![("model.embed_tokens.weight".into(), &mut self.embed)];
        for (i, b) in self.blocks.iter_mut().enumerate() {
            let p = format!("model.layers.{i}");
            out.push((format!("{p}.input_layernorm.weight"), &mut b.attn_norm));
            for (name, l) in [
                ("self_attn.q_proj", &mut b.q),
                ("self_attn.k_proj", &mut b.k),
                ("self_attn.v_proj", &mut b.v),
                ("self_attn.o_proj", &mut b.o),
                ("mlp.gate_proj", &mut b.gate),
                ("mlp.up_proj", &mut b.up),
                ("mlp.down_proj", &mut b.down),
            ] {
                out.push((format!("{p}.{name}.weight"), &mut l.weight));
                if let Some(bias) = l.bias.as_mut() {
                    out.push((format!("{p}.{name}.bias"), bias));
                }
            }
            out.push((
                format!("{p}.post_attention_layernorm.weight"),
                &mut b.mlp_norm,
            ));
        }
        out.push(("model.norm.weight".into(), &mut self.norm));
        if let Some(head) = self.lm_head.as_mut() {
            out.push(("lm_head.weight".into(), head));
        }
        out
    }

    /// Number of base parameters (LoRA adapters excluded).
    pub fn num_params(&mut self) -> usize {
        self.params_mut().iter().map(|(_, t)| t.elem_count()).sum()
    }

    /// Final hidden states `(batch * len, hidden)` after the last RMSNorm.
    pub fn hidden(&self, inp: &Inputs) -> Result<Tensor> {
        let cfg = &self.cfg;
        let (b, t) = inp.ids.dims2()?;
        let (nh, nkv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
        let rep = nh / nkv;
        let freqs = inp.positions.unsqueeze(2)?.broadcast_mul(&self.inv_freq)?;
        let emb = Tensor::cat(&[&freqs, &freqs], D::Minus1)?.unsqueeze(1)?;
        let (cos, sin) = (emb.cos()?, emb.sin()?);
        let mask = inp.mask.reshape((b, 1, 1, t, t))?;
        let scale = 1.0 / (hd as f64).sqrt();
        let mut x = lookup(
            &self.embed,
            &inp.ids.flatten_all()?,
            self.embed_sink.as_ref(),
        )?;
        for blk in &self.blocks {
            let h = rms_norm(&x, &blk.attn_norm, cfg.rms_norm_eps)?;
            let heads = |y: Tensor, n: usize| -> Result<Tensor> {
                Ok(y.reshape((b, t, n, hd))?.transpose(1, 2)?.contiguous()?)
            };
            let q = rope(&heads(blk.q.forward(&h)?, nh)?, &cos, &sin)?;
            let k = rope(&heads(blk.k.forward(&h)?, nkv)?, &cos, &sin)?;
            let v = heads(blk.v.forward(&h)?, nkv)?;
            // Grouped-query attention without copying K/V: the `rep` query heads that share a
            // key/value head are stacked along the sequence axis.
            let q = q.reshape((b, nkv, rep * t, hd))?;
            let scores = (q.matmul(&k.t()?)? * scale)?.reshape((b, nkv, rep, t, t))?;
            let p = softmax_last(&scores.broadcast_add(&mask)?)?.reshape((b, nkv, rep * t, t))?;
            let a = p
                .matmul(&v)?
                .reshape((b, nh, t, hd))?
                .transpose(1, 2)?
                .reshape((b * t, nh * hd))?;
            x = (x + blk.o.forward(&a)?)?;
            let h = rms_norm(&x, &blk.mlp_norm, cfg.rms_norm_eps)?;
            let g = blk.gate.forward(&h)?.silu()?;
            x = (x + blk.down.forward(&(g * blk.up.forward(&h)?)?)?)?;
        }
        rms_norm(&x, &self.norm, cfg.rms_norm_eps)
    }

    /// Logits `(rows, vocab)` for the given rows of the hidden states.
    pub fn logits(&self, hidden: &Tensor, rows: &Tensor) -> Result<Tensor> {
        let h = hidden.index_select(rows, 0)?;
        match &self.lm_head {
            Some(head) => matmul_t(&h, head, self.head_sink.as_ref()),
            None => matmul_t(&h, &self.embed, self.embed_sink.as_ref()),
        }
    }

    /// Log-probabilities of `targets` (u32, one per row) at the given rows: `(rows,)`.
    pub fn target_logprobs(&self, inp: &Inputs, rows: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let hidden = self.hidden(inp)?;
        let lp = log_softmax_last(&self.logits(&hidden, rows)?)?;
        Ok(lp.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?)
    }
}
