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
    if cfg.batch_size == 0 {
        return Err(LlmError::config("batch_size", "must be at least 1"));
    }
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
                tokens: n_tok,
                tokens_per_s: tokens as f64 / start.elapsed().as_secs_f64(),
            });
        }
        epoch_losses.push(sum / n as f64);
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(TrainReport {
        epoch_losses,
        steps: step,
        tokens,
        seconds,
        tokens_per_s: tokens as f64 / seconds,
    })
}
