//! Turning token ids into model inputs: padded training batches (loss on answer tokens only) and
//! packed scoring sequences (one prompt followed by all candidate answers, each of which sees the
//! prompt and itself only).
use crate::error::Result;
use crate::model::{Inputs, MASKED};
use candle_core::{Device, Tensor};

/// A prompt and its answer continuation, as token ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// Prompt ids, including any BOS.
    pub prompt: Vec<u32>,
    /// Answer ids.
    pub answer: Vec<u32>,
}

/// Model inputs plus the rows whose next-token log-probabilities are wanted.
#[derive(Debug, Clone)]
pub struct Batch {
    /// Forward-pass inputs.
    pub inputs: Inputs,
    /// Flat row indices (`b * len + t`) into the hidden states, u32.
    pub rows: Tensor,
    /// Target token of each row, u32.
    pub targets: Tensor,
    /// Number of target rows.
    pub n_targets: usize,
    /// Number of real (non-padding) tokens fed to the model.
    pub n_tokens: usize,
}

/// Assemble a batch from flat `(b, t)` ids and positions, a flat `(b, 1, t, t)` mask and the target rows.
#[allow(clippy::too_many_arguments)]
fn assemble(
    ids: Vec<u32>,
    pos: Vec<f32>,
    mask: Vec<f32>,
    (b, t): (usize, usize),
    rows: Vec<u32>,
    targets: Vec<u32>,
    n_tokens: usize,
) -> Result<Batch> {
    let dev = Device::Cpu;
    let n_targets = rows.len();
    Ok(Batch {
        inputs: Inputs {
            ids: Tensor::from_vec(ids, (b, t), &dev)?,
            positions: Tensor::from_vec(pos, (b, t), &dev)?,
            mask: Tensor::from_vec(mask, (b, 1, t, t), &dev)?,
        },
        rows: Tensor::from_vec(rows, n_targets, &dev)?,
        targets: Tensor::from_vec(targets, n_targets, &dev)?,
        n_targets,
        n_tokens,
    })
}

/// A right-padded causal batch; targets are the answer tokens of each example.
pub fn training_batch(examples: &[&Example], pad: u32) -> Result<Batch> {
    let b = examples.len();
    let t = examples
        .iter()
        .map(|e| e.prompt.len() + e.answer.len())
        .max()
        .unwrap_or(1);
    let mut ids = vec![pad; b * t];
    let mut mask = vec![MASKED; b * t * t];
    let (mut rows, mut targets, mut n_tokens) = (Vec::new(), Vec::new(), 0);
    for (i, e) in examples.iter().enumerate() {
        let seq: Vec<u32> = e.prompt.iter().chain(&e.answer).copied().collect();
        n_tokens += seq.len();
        ids[i * t..i * t + seq.len()].copy_from_slice(&seq);
        for (j, &a) in e.answer.iter().enumerate() {
            rows.push((i * t + e.prompt.len() + j - 1) as u32);
            targets.push(a);
        }
        // Causal mask; padding sits after every real token, so real rows never see it.
        for q in 0..t {
            for k in 0..=q {
                mask[(i * t + q) * t + k] = 0.0;
            }
        }
    }
    let pos: Vec<f32> = (0..b).flat_map(|_| (0..t).map(|p| p as f32)).collect();
    assemble(ids, pos, mask, (b, t), rows, targets, n_tokens)
}

/// A packed scoring batch: sequence `i` is `prompts[i]` followed by every candidate of
/// `candidates`. Candidate tokens take positions after the prompt and attend to the prompt and to
/// their own earlier tokens only, so each candidate is scored exactly as if it followed the prompt
/// alone. Targets are ordered by sequence, then candidate, then token.
pub fn scoring_batch(prompts: &[&[u32]], candidates: &[Vec<u32>], pad: u32) -> Result<Batch> {
    let b = prompts.len();
    let cand_len: usize = candidates.iter().map(Vec::len).sum();
    let t = prompts.iter().map(|p| p.len()).max().unwrap_or(1) + cand_len;
    let mut ids = vec![pad; b * t];
    let mut pos = vec![0f32; b * t];
    let mut mask = vec![MASKED; b * t * t];
    let (mut rows, mut targets, mut n_tokens) = (Vec::new(), Vec::new(), 0);
    for (i, p) in prompts.iter().enumerate() {
        let base = i * t;
        let np = p.len();
        n_tokens += np + cand_len;
        for q in 0..t {
            mask[(base + q) * t + q] = 0.0; // every row sees itself (padding rows included)
        }
        for (q, &id) in p.iter().enumerate() {
            ids[base + q] = id;
            pos[base + q] = q as f32;
            for k in 0..q {
                mask[(base + q) * t + k] = 0.0;
            }
        }
        let mut start = np;
        for c in candidates {
            for (j, &id) in c.iter().enumerate() {
                let q = start + j;
                ids[base + q] = id;
                pos[base + q] = (np + j) as f32;
                for k in (0..np).chain(start..q) {
                    mask[(base + q) * t + k] = 0.0;
                }
                let from = if j == 0 { np - 1 } else { q - 1 };
                rows.push((base + from) as u32);
                targets.push(id);
            }
            start += c.len();
        }
    }
    assemble(ids, pos, mask, (b, t), rows, targets, n_tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn training_targets_are_answer_tokens() {
        let a = Example {
            prompt: vec![5, 6, 7],
            answer: vec![8, 9],
        };
        let b = Example {
            prompt: vec![1],
            answer: vec![2],
        };
        let batch = training_batch(&[&a, &b], 0).unwrap();
        assert_eq!(batch.inputs.ids.dims(), &[2, 5]);
        assert_eq!(batch.rows.to_vec1::<u32>().unwrap(), vec![2, 3, 5]);
        assert_eq!(batch.targets.to_vec1::<u32>().unwrap(), vec![8, 9, 2]);
        assert_eq!(batch.n_tokens, 7);
        let ids = batch.inputs.ids.to_vec2::<u32>().unwrap();
        assert_eq!(ids[1], vec![1, 2, 0, 0, 0]);
    }

    #[test]
    fn scoring_layout_and_mask() {
        let prompt: &[u32] = &[1, 2];
        let cands = vec![vec![10, 11], vec![20]];
        let batch = scoring_batch(&[prompt], &cands, 0).unwrap();
        assert_eq!(
            batch.inputs.ids.to_vec2::<u32>().unwrap()[0],
            vec![1, 2, 10, 11, 20]
        );
        assert_eq!(
            batch.inputs.positions.to_vec2::<f32>().unwrap()[0],
            vec![0., 1., 2., 3., 2.]
        );
        // candidate 1 predicted from the prompt end (row 1) and its own first token (row 2);
        // candidate 2 from the prompt end again.
        assert_eq!(batch.rows.to_vec1::<u32>().unwrap(), vec![1, 2, 1]);
        assert_eq!(batch.targets.to_vec1::<u32>().unwrap(), vec![10, 11, 20]);
        let m = batch
            .inputs
            .mask
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let seen = |q: usize, k: usize| m[q * 5 + k] == 0.0;
        assert!(seen(4, 0) && seen(4, 1) && seen(4, 4));
        assert!(
            !seen(4, 2) && !seen(4, 3),
            "candidate 2 must not see candidate 1"
        );
        assert!(seen(3, 2) && !seen(2, 3));
    }
}
