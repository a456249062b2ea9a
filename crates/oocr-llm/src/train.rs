//! The fine-tuning loop: shuffled mini-batches, cross-entropy on the answer tokens only, AdamW.
use crate::batch::{training_batch, Example};
use crate::error::{LlmError, Result};
use crate::model::CausalLm;
use crate::optim::AdamW;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Loop settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training examples.
    pub epochs: usize,
    /// Examples per optimizer step.
    pub batch_size: usize,
    /// Seed of the example order.
    pub seed: u64,
    /// How the learning rate moves over the run.
    pub schedule: Schedule,
    /// Share of the steps spent warming the learning rate up linearly (0 = none).
    pub warmup_frac: f64,
}

/// Learning-rate schedule after the warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// The optimizer's learning rate throughout.
    Constant,
    /// Half a cosine from the optimizer's learning rate down to zero at the end of the run.
    Cosine,
}

impl std::str::FromStr for Schedule {
    type Err = LlmError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "constant" => Ok(Schedule::Constant),
            "cosine" => Ok(Schedule::Cosine),
            _ => Err(LlmError::config(
                "lr_schedule",
                format!("unknown schedule `{s}` (expected constant or cosine)"),
            )),
        }
    }
}

impl TrainConfig {
    /// Optimizer steps of a run over `n_examples` (the last batch of an epoch may be short).
    pub fn total_steps(&self, n_examples: usize) -> usize {
        self.epochs * n_examples.div_ceil(self.batch_size.max(1))
    }

    /// Factor applied to the base learning rate at 0-based step `t` of `total`.
    pub fn lr_factor(&self, t: usize, total: usize) -> f64 {
        let warmup = (self.warmup_frac * total as f64).round() as usize;
        if t < warmup {
            return (t + 1) as f64 / (warmup + 1) as f64;
        }
        match self.schedule {
            Schedule::Constant => 1.0,
            Schedule::Cosine => {
                let p = (t - warmup) as f64 / (total - warmup).max(1) as f64;
                0.5 * (1.0 + (std::f64::consts::PI * p).cos())
            }
        }
    }

    fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(LlmError::config("batch_size", "must be at least 1"));
        }
        if !(0.0..1.0).contains(&self.warmup_frac) {
            return Err(LlmError::config(
                "warmup_frac",
                format!("must be in [0, 1), got {}", self.warmup_frac),
            ));
        }
        Ok(())
    }
}

/// One optimizer step, as logged to `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepLog {
    /// Epoch, 1-based.
    pub epoch: usize,
    /// Step over the whole run, 1-based.
    pub step: usize,
    /// Mean answer-token cross-entropy of the batch.
    pub loss: f64,
    /// Gradient norm before clipping.
    pub grad_norm: f64,
    /// Learning rate of this step.
    pub lr: f64,
    /// Tokens fed to the model in this step (padding excluded).
    pub tokens: usize,
    /// Tokens per second over the run so far.
    pub tokens_per_s: f64,
}

/// What a training run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    /// Mean batch loss of each epoch.
    pub epoch_losses: Vec<f64>,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Tokens fed to the model (padding excluded).
    pub tokens: usize,
    /// Wall time of the loop.
    pub seconds: f64,
    /// `tokens / seconds`.
    pub tokens_per_s: f64,
}

/// Mean answer-token cross-entropy of one batch (a scalar tensor with its graph).
pub fn batch_loss(
    model: &CausalLm,
    examples: &[&Example],
    pad: u32,
) -> Result<(candle_core::Tensor, usize)> {
    let b = training_batch(examples, pad)?;
    let lp = model.target_logprobs(&b.inputs, &b.rows, &b.targets)?;
    Ok((lp.mean_all()?.neg()?, b.n_tokens))
}

/// Train `model` (whose trainable variables `opt` holds) on `examples`. `on_step` sees every step.
pub fn train(
    model: &CausalLm,
    opt: &mut AdamW,
    examples: &[Example],
    cfg: &TrainConfig,
    mut on_step: impl FnMut(&StepLog),
) -> Result<TrainReport> {
    cfg.validate()?;
    if examples.is_empty() {
        return Err(LlmError::config("dataset", "no training example"));
    }
    if examples
        .iter()
        .any(|e| e.prompt.is_empty() || e.answer.is_empty())
    {
        return Err(LlmError::config(
            "dataset",
            "an example has an empty prompt or answer",
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    let mut order: Vec<usize> = (0..examples.len()).collect();
    let start = Instant::now();
    let (mut step, mut tokens) = (0usize, 0usize);
    let mut epoch_losses = Vec::with_capacity(cfg.epochs);
    let base_lr = opt.cfg.lr;
    let total = cfg.total_steps(examples.len());
    for epoch in 1..=cfg.epochs {
        order.shuffle(&mut rng);
        let (mut sum, mut n) = (0.0, 0usize);
        for idx in order.chunks(cfg.batch_size) {
            let batch: Vec<&Example> = idx.iter().map(|&i| &examples[i]).collect();
            let (loss, n_tok) = batch_loss(model, &batch, 0)?;
            step += 1;
            let value = loss.to_scalar::<f32>()? as f64;
            if !value.is_finite() {
                return Err(LlmError::Diverged {
                    epoch,
                    step,
                    loss: value,
                });
            }
            let grads = loss.backward()?;
            let lr = base_lr * cfg.lr_factor(step - 1, total);
            opt.cfg.lr = lr;
            let grad_norm = opt.step(&grads)?;
            if !grad_norm.is_finite() {
                return Err(LlmError::Diverged {
                    epoch,
                    step,
                    loss: grad_norm,
                });
            }
            tokens += n_tok;
            sum += value;
            n += 1;
            on_step(&StepLog {
                epoch,
                step,
                loss: value,
                grad_norm,
                lr,
                tokens: n_tok,
                tokens_per_s: tokens as f64 / start.elapsed().as_secs_f64(),
            });
        }
        epoch_losses.push(sum / n as f64);
    }
    opt.cfg.lr = base_lr;
    let seconds = start.elapsed().as_secs_f64();
    Ok(TrainReport {
        epoch_losses,
        steps: step,
        tokens,
        seconds,
        tokens_per_s: tokens as f64 / seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(schedule: Schedule, warmup_frac: f64) -> TrainConfig {
        TrainConfig {
            epochs: 1,
            batch_size: 1,
            seed: 0,
            schedule,
            warmup_frac,
        }
    }

    #[test]
    fn warmup_then_cosine_reaches_zero() {
        let c = cfg(Schedule::Cosine, 0.1);
        let f: Vec<f64> = (0..100).map(|t| c.lr_factor(t, 100)).collect();
        // 10 warm-up steps rise linearly, never reaching 1, the peak is the first cosine step.
        assert!((f[0] - 1.0 / 11.0).abs() < 1e-12);
        assert!(f[..10].windows(2).all(|w| w[0] < w[1]));
        assert_eq!(f[10], 1.0);
        assert!(f[10..].windows(2).all(|w| w[0] > w[1]));
        assert!((f[55] - 0.5).abs() < 1e-12, "midpoint of the cosine");
        assert!(f[99] > 0.0 && f[99] < 1e-3);
    }

    #[test]
    fn constant_without_warmup_is_one() {
        let c = cfg(Schedule::Constant, 0.0);
        assert!((0..7).all(|t| c.lr_factor(t, 7) == 1.0));
    }

    #[test]
    fn bad_settings_name_the_option() {
        let e = cfg(Schedule::Cosine, 1.0).validate().unwrap_err();
        assert!(e.to_string().contains("warmup_frac"), "{e}");
        let e = "linear".parse::<Schedule>().unwrap_err();
        assert!(e.to_string().contains("lr_schedule"), "{e}");
    }
}
