//! The decoder every family runs, written with differentiable candle ops only.
//!
//! candle's fused `softmax_last_dim`, `rms_norm`, `layer_norm` and `rope` kernels record no
//! backward pass, so this file composes the norms, RoPE (rotate-half layout, as in Hugging Face
//! checkpoints) and the attention softmax from elementary ops. A block is the union of what the
//! families need — norms before and/or after attention and MLP, optional q/k norms (per head or
//! over the whole projection), q/k/v clipping, soft-capping, per-layer sliding windows and RoPE
//! bases — and each family (`models/`) declares which parts its blocks have. Attention takes
//! explicit positions and an additive mask, so one sequence can hold a prompt followed by several
//! candidate answers that each see only the prompt (see `eval`).
use crate::config::{Activation, ModelConfig, NormKind};
use crate::error::Result;
use crate::grad_sink::GradSink;
use crate::linear::{Linear, Weight};
use candle_core::{DType, Device, Tensor, D};
use std::sync::Arc;

/// A norm layer; `weight` is `None` for a non-parametric norm (OLMo 1's LayerNorm).
#[derive(Debug, Clone)]
pub struct Norm {
    /// Hugging Face parameter name of the weight.
    pub name: String,
    /// The weight, if the norm has one.
    pub weight: Option<Tensor>,
}

impl Norm {
    /// A norm without a weight.
    pub fn plain() -> Self {
        Norm {
            name: String::new(),
            weight: None,
        }
    }
}

/// One decoder block: `x += post_attn(attn(attn_norm(x)))`, then `x += post_mlp(mlp(mlp_norm(x)))`,
/// each norm optional.
#[derive(Debug, Clone)]
pub struct Block {
    /// Norm of the attention input.
    pub attn_norm: Option<Norm>,
    /// Query projection.
    pub q: Linear,
    /// Key projection.
    pub k: Linear,
    /// Value projection.
    pub v: Linear,
    /// Output projection.
    pub o: Linear,
    /// Norm of the queries: per head (weight of `head_dim`) or over the whole projection.
    pub q_norm: Option<Norm>,
    /// Norm of the keys, as `q_norm`.
    pub k_norm: Option<Norm>,
    /// Norm of the attention output before the residual addition.
    pub attn_post_norm: Option<Norm>,
    /// Norm of the MLP input.
    pub mlp_norm: Option<Norm>,
    /// Gate projection of the gated MLP.
    pub gate: Linear,
    /// Up projection.
    pub up: Linear,
    /// Down projection.
    pub down: Linear,
    /// Norm of the MLP output before the residual addition.
    pub mlp_post_norm: Option<Norm>,
}

/// A causal language model of any family in `models/`.
#[derive(Debug, Clone)]
pub struct CausalLm {
    /// Hyperparameters.
    pub cfg: ModelConfig,
    /// Token embedding `(vocab, hidden)`; also the output head when tied.
    pub embed: Weight,
    /// Decoder blocks.
    pub blocks: Vec<Block>,
    /// Final norm.
    pub norm: Norm,
    /// Output head `(vocab, hidden)`; `None` when tied to the embedding.
    pub lm_head: Option<Weight>,
    /// Gradient buffer of the embedding (and of the tied head) when fully fine-tuned.
    pub embed_sink: Option<Arc<GradSink>>,
    /// Gradient buffer of an untied head when fully fine-tuned.
    pub head_sink: Option<Arc<GradSink>>,
}

/// A parameter of the model as `CausalLm::visit_mut` hands it out.
pub enum ParamMut<'a> {
    /// The token embedding (also the head when tied) and its gradient sink.
    Embedding(&'a mut Weight, &'a mut Option<Arc<GradSink>>),
    /// An untied output head and its gradient sink.
    Head(&'a mut Weight, &'a mut Option<Arc<GradSink>>),
    /// A linear layer (weight, bias, LoRA adapter, sink).
    Linear(&'a mut Linear),
    /// A norm weight.
    Norm(&'a mut Norm),
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

fn normalize(x: &Tensor, norm: &Norm, kind: NormKind, eps: f64) -> Result<Tensor> {
    let y = match kind {
        NormKind::Rms | NormKind::RmsOffset => {
            let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
            x.broadcast_mul(&(ms + eps)?.sqrt()?.recip()?)?
        }
        NormKind::LayerNorm => {
            let c = x.broadcast_sub(&x.mean_keepdim(D::Minus1)?)?;
            let var = c.sqr()?.mean_keepdim(D::Minus1)?;
            c.broadcast_mul(&(var + eps)?.sqrt()?.recip()?)?
        }
    };
    Ok(match (&norm.weight, kind) {
        (None, _) => y,
        (Some(w), NormKind::RmsOffset) => y.broadcast_mul(&(w + 1.0)?)?,
        (Some(w), _) => y.broadcast_mul(w)?,
    })
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

/// `c · tanh(x / c)`.
fn softcap(x: &Tensor, c: Option<f64>) -> Result<Tensor> {
    Ok(match c {
        Some(c) => ((x / c)?.tanh()? * c)?,
        None => x.clone(),
    })
}

/// `x * cos + rotate_half(x) * sin` with `x: (b, h, t, d)`, `cos, sin: (b, 1, t, d)`.
fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let half = x.dim(D::Minus1)? / 2;
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    Ok((x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?)?)
}

/// The per-layer pieces of attention that depend only on the inputs: RoPE tables and masks.
struct LayerInputs {
    cos_sin: Vec<(Tensor, Tensor)>,
    rope_of_layer: Vec<usize>,
    masks: Vec<Tensor>,
    mask_of_layer: Vec<usize>,
}

impl CausalLm {
    /// Visit every base parameter (LoRA adapters are inside the `Linear`s), in a fixed order:
    /// embedding, blocks (in declaration order), final norm, head.
    pub fn visit_mut(&mut self, f: &mut dyn FnMut(ParamMut<'_>)) {
        f(ParamMut::Embedding(&mut self.embed, &mut self.embed_sink));
        for b in &mut self.blocks {
            let Block {
                attn_norm,
                q,
                k,
                v,
                o,
                q_norm,
                k_norm,
                attn_post_norm,
                mlp_norm,
                gate,
                up,
                down,
                mlp_post_norm,
            } = b;
            if let Some(n) = attn_norm {
                f(ParamMut::Norm(n));
            }
            for l in [q, k, v] {
                f(ParamMut::Linear(l));
            }
            for n in [q_norm, k_norm].into_iter().flatten() {
                f(ParamMut::Norm(n));
            }
            f(ParamMut::Linear(o));
            for n in [attn_post_norm, mlp_norm].into_iter().flatten() {
                f(ParamMut::Norm(n));
            }
            for l in [gate, up, down] {
                f(ParamMut::Linear(l));
            }
            if let Some(n) = mlp_post_norm {
                f(ParamMut::Norm(n));
            }
        }
        f(ParamMut::Norm(&mut self.norm));
        if let Some(h) = &mut self.lm_head {
            f(ParamMut::Head(h, &mut self.head_sink));
        }
    }

    /// Every parameter by its Hugging Face name, in `visit_mut` order. LoRA adapters are not
    /// included.
    pub fn named_params(&mut self) -> Vec<(String, Weight)> {
        let mut out = Vec::new();
        self.visit_mut(&mut |p| match p {
            ParamMut::Embedding(t, _) => out.push(("model.embed_tokens.weight".into(), t.clone())),
            ParamMut::Head(t, _) => out.push(("lm_head.weight".into(), t.clone())),
            ParamMut::Linear(l) => {
                out.push((format!("{}.weight", l.name), l.weight.clone()));
                if let Some(b) = &l.bias {
                    out.push((format!("{}.bias", l.name), Weight::Dense(b.clone())));
                }
            }
            ParamMut::Norm(n) => {
                if let Some(w) = &n.weight {
                    out.push((n.name.clone(), Weight::Dense(w.clone())));
                }
            }
        });
        out
    }

    /// Number of base parameters (LoRA adapters excluded).
    pub fn num_params(&mut self) -> usize {
        self.named_params()
            .iter()
            .map(|(_, t)| t.elem_count())
            .sum()
    }

    fn layer_inputs(&self, inp: &Inputs) -> Result<LayerInputs> {
        let cfg = &self.cfg;
        let (b, t) = inp.ids.dims2()?;
        let hd = cfg.head_dim;
        let mut ropes: Vec<&crate::config::Rope> = Vec::new();
        let mut rope_of_layer = Vec::with_capacity(cfg.num_layers);
        let mut windows: Vec<Option<usize>> = Vec::new();
        let mut mask_of_layer = Vec::with_capacity(cfg.num_layers);
        for (i, spec) in cfg.layers.iter().enumerate() {
            let r = cfg.layer_rope(i);
            let ri = ropes.iter().position(|x| *x == r).unwrap_or_else(|| {
                ropes.push(r);
                ropes.len() - 1
            });
            rope_of_layer.push(ri);
            let wi = windows
                .iter()
                .position(|w| *w == spec.window)
                .unwrap_or_else(|| {
                    windows.push(spec.window);
                    windows.len() - 1
                });
            mask_of_layer.push(wi);
        }
        let mut cos_sin = Vec::with_capacity(ropes.len());
        for r in ropes {
            let inv = Tensor::from_vec(r.inv_freq(hd), (1, 1, hd / 2), inp.positions.device())?;
            let freqs = inp.positions.unsqueeze(2)?.broadcast_mul(&inv)?;
            let emb = Tensor::cat(&[&freqs, &freqs], D::Minus1)?.unsqueeze(1)?;
            cos_sin.push((emb.cos()?, emb.sin()?));
        }
        let mut masks = Vec::with_capacity(windows.len());
        for w in windows {
            let m = match w {
                None => inp.mask.clone(),
                Some(w) => {
                    // Positions are exact small integers in f32, so the difference is exact.
                    let pq = inp.positions.unsqueeze(2)?;
                    let pk = inp.positions.unsqueeze(1)?;
                    let far = pq.broadcast_sub(&pk)?.ge(w as f64)?;
                    let extra = far
                        .to_dtype(DType::F32)?
                        .affine(MASKED as f64, 0.0)?
                        .unsqueeze(1)?;
                    (&inp.mask + extra)?
                }
            };
            masks.push(m.reshape((b, 1, 1, t, t))?);
        }
        Ok(LayerInputs {
            cos_sin,
            rope_of_layer,
            masks,
            mask_of_layer,
        })
    }

    fn norm(&self, x: &Tensor, n: &Norm) -> Result<Tensor> {
        normalize(x, n, self.cfg.norm, self.cfg.norm_eps)
    }

    /// Norm of queries or keys `y: (b·t, heads·hd)`: per head when the weight has `head_dim`
    /// entries, else over the whole projection.
    fn qk_norm(&self, y: Tensor, n: &Option<Norm>, heads: usize) -> Result<Tensor> {
        let Some(n) = n else { return Ok(y) };
        let hd = self.cfg.head_dim;
        let per_head = n.weight.as_ref().map(|w| w.elem_count()) == Some(hd) && heads > 1;
        if per_head {
            let (rows, cols) = y.dims2()?;
            Ok(self
                .norm(&y.reshape((rows, heads, hd))?, n)?
                .reshape((rows, cols))?)
        } else {
            self.norm(&y, n)
        }
    }

    /// The device the weights live on (packed weights live on the CPU).
    pub fn device(&self) -> Device {
        match &self.embed {
            Weight::Dense(t) => t.device().clone(),
            Weight::Packed(_) => Device::Cpu,
        }
    }

    /// A copy with every f32 weight moved to `device` (e.g. a CUDA device of a candle build with
    /// that backend). Packed weights cannot move; the fused CPU kernels give way to candle-native
    /// ones off the CPU (`kernels`).
    pub fn to_device(&self, device: &Device) -> Result<Self> {
        let mut m = self.clone();
        let mut failed = None;
        let mut mv = |t: &mut Tensor| match t.to_device(device) {
            Ok(x) => *t = x,
            Err(e) => failed = Some(e),
        };
        m.visit_mut(&mut |p| match p {
            ParamMut::Embedding(Weight::Dense(t), _) | ParamMut::Head(Weight::Dense(t), _) => mv(t),
            ParamMut::Linear(l) => {
                if let Weight::Dense(t) = &mut l.weight {
                    mv(t);
                }
                if let Some(b) = &mut l.bias {
                    mv(b);
                }
            }
            ParamMut::Norm(n) => {
                if let Some(w) = &mut n.weight {
                    mv(w);
                }
            }
            _ => {}
        });
        match failed {
            Some(e) => Err(e.into()),
            None => Ok(m),
        }
    }

    /// Final hidden states `(batch * len, hidden)` after the last norm.
    pub fn hidden(&self, inp: &Inputs) -> Result<Tensor> {
        let dev = self.device();
        let moved;
        let inp = if inp.ids.device().same_device(&dev) {
            inp
        } else {
            moved = Inputs {
                ids: inp.ids.to_device(&dev)?,
                positions: inp.positions.to_device(&dev)?,
                mask: inp.mask.to_device(&dev)?,
            };
            &moved
        };
        let cfg = &self.cfg;
        let (b, t) = inp.ids.dims2()?;
        let (nh, nkv, hd) = (cfg.num_heads, cfg.num_kv_heads, cfg.head_dim);
        let rep = nh / nkv;
        let li = self.layer_inputs(inp)?;
        let mut x = self
            .embed
            .lookup(&inp.ids.flatten_all()?, self.embed_sink.as_ref())?;
        if let Some(s) = cfg.embed_scale {
            x = (x * s)?;
        }
        let clip = |y: Tensor| -> Result<Tensor> {
            Ok(match cfg.clip_qkv {
                Some(c) => y.clamp(-c, c)?,
                None => y,
            })
        };
        for (i, blk) in self.blocks.iter().enumerate() {
            let (cos, sin) = &li.cos_sin[li.rope_of_layer[i]];
            let mask = &li.masks[li.mask_of_layer[i]];
            let h = match &blk.attn_norm {
                Some(n) => self.norm(&x, n)?,
                None => x.clone(),
            };
            let heads = |y: Tensor, n: usize| -> Result<Tensor> {
                Ok(y.reshape((b, t, n, hd))?.transpose(1, 2)?.contiguous()?)
            };
            let q = self.qk_norm(clip(blk.q.forward(&h)?)?, &blk.q_norm, nh)?;
            let k = self.qk_norm(clip(blk.k.forward(&h)?)?, &blk.k_norm, nkv)?;
            let v = clip(blk.v.forward(&h)?)?;
            let q = rope(&heads(q, nh)?, cos, sin)?;
            let k = rope(&heads(k, nkv)?, cos, sin)?;
            let v = heads(v, nkv)?;
            // Grouped-query attention without copying K/V: the `rep` query heads that share a
            // key/value head are stacked along the sequence axis.
            let q = q.reshape((b, nkv, rep * t, hd))?;
            let scores = (q.matmul(&k.t()?)? * cfg.attn_scale)?;
            let scores = softcap(&scores, cfg.attn_softcap)?.reshape((b, nkv, rep, t, t))?;
            let p = softmax_last(&scores.broadcast_add(mask)?)?.reshape((b, nkv, rep * t, t))?;
            let a = p
                .matmul(&v)?
                .reshape((b, nh, t, hd))?
                .transpose(1, 2)?
                .reshape((b * t, nh * hd))?;
            let mut a = blk.o.forward(&a)?;
            if let Some(n) = &blk.attn_post_norm {
                a = self.norm(&a, n)?;
            }
            x = (x + a)?;
            let h = match &blk.mlp_norm {
                Some(n) => self.norm(&x, n)?,
                None => x.clone(),
            };
            let g = blk.gate.forward(&h)?;
            let g = match cfg.act {
                Activation::Silu => g.silu()?,
                Activation::GeluTanh => g.gelu()?,
            };
            let mut m = blk.down.forward(&(g * blk.up.forward(&h)?)?)?;
            if let Some(n) = &blk.mlp_post_norm {
                m = self.norm(&m, n)?;
            }
            x = (x + m)?;
        }
        self.norm(&x, &self.norm)
    }

    /// Logits `(rows, vocab)` for the given rows of the hidden states (final soft-capping applied).
    pub fn logits(&self, hidden: &Tensor, rows: &Tensor) -> Result<Tensor> {
        let h = hidden.index_select(&rows.to_device(hidden.device())?, 0)?;
        let l = match &self.lm_head {
            Some(head) => head.matmul_t(&h, self.head_sink.as_ref())?,
            None => self.embed.matmul_t(&h, self.embed_sink.as_ref())?,
        };
        softcap(&l, self.cfg.final_softcap)
    }

    /// Log-probabilities of `targets` (u32, one per row) at the given rows: `(rows,)`.
    pub fn target_logprobs(&self, inp: &Inputs, rows: &Tensor, targets: &Tensor) -> Result<Tensor> {
        let hidden = self.hidden(inp)?;
        let lp = log_softmax_last(&self.logits(&hidden, rows)?)?;
        let targets = targets.to_device(lp.device())?;
        Ok(lp.gather(&targets.unsqueeze(1)?, 1)?.squeeze(1)?)
    }
}
