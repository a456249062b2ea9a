//! Which parameters train: all of them (full fine-tuning) or LoRA adapters on chosen projections.
use crate::error::{LlmError, Result};
use crate::grad_sink::GradSink;
use crate::linear::{Linear, LoraAdapter, Weight};
use crate::model::{CausalLm, ParamMut};
use crate::optim::Param;
use candle_core::{Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Projections LoRA can adapt, by their Hugging Face module names.
pub const LORA_TARGETS: [&str; 7] = [
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
];

/// LoRA settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraConfig {
    /// Adapter rank r.
    pub rank: usize,
    /// Scale numerator: the update is `alpha / r · B A`.
    pub alpha: f64,
    /// Adapted projections (names from `LORA_TARGETS`; `q`, `gate`, … are accepted too).
    pub targets: Vec<String>,
}

impl LoraConfig {
    /// Rank `rank`, alpha = 2·rank, all seven projections.
    pub fn new(rank: usize) -> Self {
        LoraConfig {
            rank,
            alpha: 2.0 * rank as f64,
            targets: LORA_TARGETS.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Canonical target names; errors name the unknown target.
    pub fn resolved_targets(&self) -> Result<Vec<&'static str>> {
        let mut out = Vec::new();
        for t in &self.targets {
            let t = t.trim();
            let found = LORA_TARGETS
                .iter()
                .find(|n| **n == t || n.strip_suffix("_proj") == Some(t))
                .ok_or_else(|| {
                    LlmError::config(
                        "lora_targets",
                        format!("unknown module '{t}' (known: {})", LORA_TARGETS.join(", ")),
                    )
                })?;
            if !out.contains(found) {
                out.push(*found);
            }
        }
        if out.is_empty() {
            return Err(LlmError::config("lora_targets", "no module given"));
        }
        Ok(out)
    }
}

/// The fine-tuning method.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Every parameter trains.
    Full,
    /// Base weights frozen; LoRA adapters train.
    Lora(LoraConfig),
}

impl Method {
    /// Short label for tables: `full` or `lora-r8`.
    pub fn label(&self) -> String {
        match self {
            Method::Full => "full".into(),
            Method::Lora(c) => format!("lora-r{}", c.rank),
        }
    }
}

/// Make `model` trainable by `method` and return the parameters to optimize. Full fine-tuning
/// turns every parameter into a variable (a copy: tensors shared with other clones of the model
/// stay untouched), with gradient sinks on the matrices; LoRA adds adapters with
/// `A ~ U(-1/sqrt(in), 1/sqrt(in))` drawn from `seed` and `B = 0`.
pub fn make_trainable(model: &mut CausalLm, method: &Method, seed: u64) -> Result<Vec<Param>> {
    let mut params = Vec::new();
    let mut failed: Option<LlmError> = None;
    match method {
        Method::Full => {
            let mut var = |t: &mut Tensor, with_sink: bool| -> Result<Option<Arc<GradSink>>> {
                let with_sink = with_sink && !crate::kernels::native_on(t.device());
                let v = Var::from_tensor(t)?;
                *t = v.as_tensor().clone();
                let sink = with_sink.then(|| GradSink::new(v.elem_count()));
                params.push(Param {
                    var: v,
                    sink: sink.clone(),
                });
                Ok(sink)
            };
            model.visit_mut(&mut |p| {
                if failed.is_some() {
                    return;
                }
                let r = match p {
                    ParamMut::Embedding(Weight::Dense(t), sink)
                    | ParamMut::Head(Weight::Dense(t), sink) => var(t, true).map(|s| *sink = s),
                    ParamMut::Embedding(Weight::Packed(_), _)
                    | ParamMut::Head(Weight::Packed(_), _)
                    | ParamMut::Linear(Linear {
                        weight: Weight::Packed(_),
                        ..
                    }) => Err(LlmError::config(
                        "base_dtype",
                        "full fine-tuning needs the f32 base (packed weights are frozen)",
                    )),
                    ParamMut::Linear(Linear {
                        weight: Weight::Dense(w),
                        sink,
                        bias,
                        ..
                    }) => var(w, true).and_then(|s| {
                        *sink = s;
                        match bias.as_mut() {
                            Some(b) => var(b, false).map(|_| ()),
                            None => Ok(()),
                        }
                    }),
                    ParamMut::Norm(n) => match n.weight.as_mut() {
                        Some(w) => var(w, false).map(|_| ()),
                        None => Ok(()),
                    },
                };
                if let Err(e) = r {
                    failed = Some(e);
                }
            });
        }
        Method::Lora(cfg) => {
            if cfg.rank == 0 {
                return Err(LlmError::config("lora", "rank must be at least 1"));
            }
            if cfg.alpha.is_nan() || cfg.alpha <= 0.0 {
                return Err(LlmError::config(
                    "lora_alpha",
                    format!("{} must be positive", cfg.alpha),
                ));
            }
            let targets = cfg.resolved_targets()?;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut found = Vec::new();
            model.visit_mut(&mut |p| {
                let ParamMut::Linear(lin) = p else { return };
                let Some(name) = targets.iter().find(|t| **t == lin.module()) else {
                    return;
                };
                if failed.is_some() {
                    return;
                }
                if !found.contains(name) {
                    found.push(*name);
                }
                let r = (|| -> Result<()> {
                    let (out, inp) = lin.weight.dims2()?;
                    let bound = 1.0 / (inp as f32).sqrt();
                    let a: Vec<f32> = (0..cfg.rank * inp)
                        .map(|_| rng.random_range(-bound..bound))
                        .collect();
                    let dev = match &lin.weight {
                        Weight::Dense(w) => w.device().clone(),
                        Weight::Packed(_) => Device::Cpu,
                    };
                    let a = Var::from_tensor(&Tensor::from_vec(a, (cfg.rank, inp), &dev)?)?;
                    let b = Var::zeros((out, cfg.rank), candle_core::DType::F32, &dev)?;
                    params.push(Param::plain(a.clone()));
                    params.push(Param::plain(b.clone()));
                    lin.lora = Some(LoraAdapter {
                        a,
                        b,
                        scale: cfg.alpha / cfg.rank as f64,
                    });
                    Ok(())
                })();
                if let Err(e) = r {
                    failed = Some(e);
                }
            });
            if let Some(missing) = targets.iter().find(|t| !found.contains(t)) {
                return Err(LlmError::config(
                    "lora_targets",
                    format!("the model ({}) has no '{missing}' module", model.cfg.family),
                ));
            }
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(params),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_resolve_and_reject_unknown() {
        let mut c = LoraConfig::new(4);
        assert_eq!(c.resolved_targets().unwrap().len(), 7);
        c.targets = vec!["q".into(), "v_proj".into(), "q_proj".into()];
        assert_eq!(c.resolved_targets().unwrap(), vec!["q_proj", "v_proj"]);
        c.targets = vec!["attn".into()];
        let e = c.resolved_targets().unwrap_err().to_string();
        assert!(e.contains("attn") && e.contains("lora_targets"), "{e}");
        assert_eq!(Method::Lora(LoraConfig::new(8)).label(), "lora-r8");
    }
}
