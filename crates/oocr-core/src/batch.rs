//! What each step trains on and what each fresh evaluation measures.
//!
//! The paper (Sec. 3) trains full-batch on D_train = train facts ∪ train implications ∪ test facts,
//! one fixed sequence per (subject, relation). The authors' code instead draws every step a new
//! minibatch of 252 sequences, a third from each trained block, subjects with replacement and noise
//! tokens redrawn, and evaluates on freshly drawn sequences. `train.batch_size`, `train.sampling`,
//! `train.block_weights` and `task.order` choose between these; the default is the paper's, and
//! then every step is the task's own `train_samples()` slice with uniform weights.

use crate::config::{BlockWeights, Config, Order, Sampling};
use crate::rng::{rng_at, Stream};
use crate::task::{Block, Sample, Task};
use rand::Rng;

/// The sequences of one step and their loss weights (`None`: the plain mean).
#[derive(Debug, Clone, Copy)]
pub struct Batch<'a> {
    /// The sequences.
    pub samples: &'a [Sample],
    /// Weight of each sequence in the loss (summing to 1), or `None` for 1/len each.
    pub weights: Option<&'a [f64]>,
}

/// Draws the batch of every step of a run, deterministically from the seed and the step.
#[derive(Debug, Clone)]
pub struct Batcher {
    /// Trained, non-empty blocks of the first and the second phase (the same when mixed).
    phases: [Vec<Block>; 2],
    /// Steps 1..=first_phase are in the first phase.
    first_phase: usize,
    order: Order,
    sampling: Sampling,
    batch_size: usize,
    block_weights: BlockWeights,
    seed: u64,
    buf: Vec<Sample>,
    weights: Vec<f64>,
    /// The phase whose fixed full batch `buf` holds.
    loaded: Option<usize>,
}

impl Batcher {
    /// The batcher of `cfg` on `task` (a config that passed validation).
    pub fn new(cfg: &Config, task: &Task) -> Batcher {
        let facts = vec![Block::TrainFacts, Block::TestFacts];
        let implications = vec![Block::TrainImplications];
        let all = vec![
            Block::TrainFacts,
            Block::TrainImplications,
            Block::TestFacts,
        ];
        let phases = match cfg.task.order {
            Order::Mixed => [all.clone(), all],
            Order::FactFirst => [facts, implications],
            Order::ImplFirst => [implications, facts],
        }
        .map(|p| {
            p.into_iter()
                .filter(|&b| !task.block(b).is_empty())
                .collect()
        });
        let first_phase = match cfg.task.first_phase_steps {
            0 => cfg.train.steps / 2,
            k => k,
        };
        Batcher {
            phases,
            first_phase,
            order: cfg.task.order,
            sampling: cfg.train.sampling,
            batch_size: cfg.train.batch_size,
            block_weights: cfg.train.block_weights,
            seed: cfg.train.seed,
            buf: Vec::new(),
            weights: Vec::new(),
            loaded: None,
        }
    }

    /// The phase (0 or 1) of `step` (1-based); always 0 when mixed.
    pub fn phase(&self, step: usize) -> usize {
        if self.order == Order::Mixed || step <= self.first_phase {
            0
        } else {
            1
        }
    }

    /// The batch of `step` (1-based).
    pub fn batch<'a>(&'a mut self, step: usize, task: &'a Task) -> Batch<'a> {
        let phase = self.phase(step);
        let mut r = rng_at(self.seed, Stream::Batch, step as u64);
        let blocks = &self.phases[phase];
        if self.batch_size == 0 {
            let thirds = self.block_weights == BlockWeights::Thirds;
            match (self.order, self.sampling) {
                // The paper's full batch: the task's own slice, nothing copied.
                (Order::Mixed, Sampling::Fixed) if !thirds => {
                    return Batch {
                        samples: task.train_samples(),
                        weights: None,
                    }
                }
                (Order::Mixed, Sampling::Fixed) => {
                    self.weights.clear();
                    self.weights
                        .extend(task.train_samples().iter().map(|s| share(blocks, task, s)));
                    return Batch {
                        samples: task.train_samples(),
                        weights: Some(&self.weights),
                    };
                }
                (_, Sampling::Fixed) if self.loaded != Some(phase) => {
                    self.buf.clear();
                    for &b in blocks {
                        self.buf.extend_from_slice(task.block(b));
                    }
                    self.loaded = Some(phase);
                }
                (_, Sampling::Fixed) => {}
                (_, Sampling::Fresh) => {
                    let n: usize = blocks.iter().map(|&b| task.block(b).len()).sum();
                    fit(&mut self.buf, n, task);
                    let protos = blocks.iter().flat_map(|&b| task.block(b));
                    for (out, proto) in self.buf.iter_mut().zip(protos) {
                        task.resample_into(proto, &mut r, out);
                    }
                }
            }
            let weights = if thirds {
                self.weights.clear();
                self.weights
                    .extend(self.buf.iter().map(|s| share(blocks, task, s)));
                Some(&self.weights[..])
            } else {
                None
            };
            return Batch {
                samples: &self.buf,
                weights,
            };
        }
        let b = self.batch_size;
        fit(&mut self.buf, b, task);
        let fresh = self.sampling == Sampling::Fresh;
        let draw = |proto: &Sample, r: &mut rand_chacha::ChaCha20Rng, out: &mut Sample| {
            if fresh {
                task.resample_into(proto, r, out);
            } else {
                out.clone_from(proto);
            }
        };
        match self.block_weights {
            BlockWeights::Uniform => {
                let n: usize = blocks.iter().map(|&b| task.block(b).len()).sum();
                for out in self.buf.iter_mut() {
                    let mut i = r.random_range(0..n);
                    let mut proto = None;
                    for &bl in blocks {
                        let len = task.block(bl).len();
                        if i < len {
                            proto = Some(&task.block(bl)[i]);
                            break;
                        }
                        i -= len;
                    }
                    draw(proto.expect("an index below the total"), &mut r, out);
                }
                Batch {
                    samples: &self.buf,
                    weights: None,
                }
            }
            BlockWeights::Thirds => {
                let k = blocks.len();
                let counts: Vec<usize> = (0..k).map(|j| b / k + usize::from(j < b % k)).collect();
                let used = counts.iter().filter(|&&c| c > 0).count() as f64;
                self.weights.clear();
                let mut outs = self.buf.iter_mut();
                for (&bl, &c) in blocks.iter().zip(&counts) {
                    let block = task.block(bl);
                    for _ in 0..c {
                        let proto = &block[r.random_range(0..block.len())];
                        draw(proto, &mut r, outs.next().expect("counts sum to b"));
                        self.weights.push(1.0 / (used * c as f64));
                    }
                }
                Batch {
                    samples: &self.buf,
                    weights: Some(&self.weights),
                }
            }
        }
    }
}

/// The thirds weight of sample `s` in a full batch of `blocks`: 1 / (k |its block|).
fn share(blocks: &[Block], task: &Task, s: &Sample) -> f64 {
    1.0 / (blocks.len() as f64 * task.block(s.block).len() as f64)
}

/// Makes `buf` hold exactly `n` samples (placeholders to be overwritten).
fn fit(buf: &mut Vec<Sample>, n: usize, task: &Task) {
    buf.truncate(n);
    while buf.len() < n {
        buf.push(task.samples[0].clone());
    }
}

/// `size` freshly drawn sequences of every non-empty block (subjects with replacement, new noise),
/// for the evaluation at `step`; a stream of its own, so training never depends on it.
pub fn fresh_eval_set(task: &Task, seed: u64, step: usize, size: usize) -> Vec<Sample> {
    let mut r = rng_at(seed, Stream::Eval, step as u64);
    let mut out = Vec::new();
    for b in Block::ALL {
        let block = task.block(b);
        if block.is_empty() {
            continue;
        }
        for _ in 0..size {
            let proto = &block[r.random_range(0..block.len())];
            let mut s = proto.clone();
            task.resample_into(proto, &mut r, &mut s);
            out.push(s);
        }
    }
    out
}

/// The share of each trained block (train facts, train implications, test facts) in the
/// `train_loss` metric: `None` for the task's fixed sequences weighted uniformly (the plain mean
/// over D_train), else the blocks' sizes (uniform) or equal shares (thirds) over non-empty blocks.
pub fn train_loss_shares(cfg: &Config, task: &Task) -> Option<[f64; 3]> {
    use crate::config::Eval;
    let trained = [
        Block::TrainFacts,
        Block::TrainImplications,
        Block::TestFacts,
    ];
    let len = |b: Block| task.block(b).len() as f64;
    match (cfg.train.block_weights, cfg.train.eval) {
        (BlockWeights::Uniform, Eval::Fixed) => None,
        (BlockWeights::Uniform, Eval::Fresh) => {
            let n = task.train_samples().len() as f64;
            Some(trained.map(|b| len(b) / n))
        }
        (BlockWeights::Thirds, _) => {
            let k = trained.iter().filter(|&&b| len(b) > 0.0).count() as f64;
            Some(trained.map(|b| if len(b) > 0.0 { 1.0 / k } else { 0.0 }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(sets: &[&str]) -> Config {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Config::default().with_overrides(&sets).unwrap()
    }

    fn setup(sets: &[&str]) -> (Config, Task) {
        let c = cfg(sets);
        let t = Task::new(&c.task, c.train.seed);
        (c, t)
    }

    #[test]
    fn default_is_the_tasks_own_slice() {
        let (c, t) = setup(&[]);
        let mut b = Batcher::new(&c, &t);
        let batch = b.batch(1, &t);
        assert!(std::ptr::eq(batch.samples, t.train_samples()));
        assert!(batch.weights.is_none());
    }

    #[test]
    fn authors_minibatch_is_thirds_with_fresh_noise() {
        let (c, t) = setup(&[
            "task.seq_len=16",
            "task.noise_tokens=5",
            "train.batch_size=252",
            "train.sampling=fresh",
            "train.block_weights=thirds",
        ]);
        let mut b = Batcher::new(&c, &t);
        let first: Vec<Sample> = b.batch(1, &t).samples.to_vec();
        let batch = b.batch(1, &t);
        // Deterministic by (seed, step).
        assert_eq!(batch.samples, &first[..]);
        let w = batch.weights.unwrap();
        assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        for blk in [
            Block::TrainFacts,
            Block::TrainImplications,
            Block::TestFacts,
        ] {
            let n = batch.samples.iter().filter(|s| s.block == blk).count();
            assert_eq!(n, 84, "{blk:?}");
        }
        assert!(batch.samples.iter().all(|s| s.block.in_train()));
        for s in batch.samples {
            assert_eq!(s.tokens.len(), 16);
            assert_eq!(s.tokens.iter().filter(|&&z| z > t.eos()).count(), 13);
            assert!(s.tokens.contains(&s.subject) && s.tokens.contains(&s.relation));
        }
        // Subjects are drawn with replacement: 84 draws among 20 train subjects repeat.
        let mut subjects: Vec<usize> = batch
            .samples
            .iter()
            .filter(|s| s.block == Block::TrainFacts)
            .map(|s| s.subject)
            .collect();
        subjects.sort();
        subjects.dedup();
        assert!(subjects.len() <= 20);
        let other = b.batch(2, &t).samples.to_vec();
        assert_ne!(other, first);
    }

    #[test]
    fn fixed_minibatches_reuse_the_tasks_sequences() {
        let (c, t) = setup(&[
            "task.seq_len=8",
            "task.noise_tokens=3",
            "train.batch_size=10",
        ]);
        let mut b = Batcher::new(&c, &t);
        let batch = b.batch(3, &t);
        assert_eq!(batch.samples.len(), 10);
        assert!(batch.weights.is_none());
        for s in batch.samples {
            assert!(t.train_samples().contains(s));
        }
    }

    #[test]
    fn full_batch_thirds_weights_each_block_equally() {
        for sampling in ["fixed", "fresh"] {
            let (c, t) = setup(&[
                "train.block_weights=thirds",
                &format!("train.sampling={sampling}"),
            ]);
            let mut b = Batcher::new(&c, &t);
            let batch = b.batch(1, &t);
            assert_eq!(batch.samples.len(), 100);
            let w = batch.weights.unwrap();
            for blk in [
                Block::TrainFacts,
                Block::TrainImplications,
                Block::TestFacts,
            ] {
                let total: f64 = batch
                    .samples
                    .iter()
                    .zip(w)
                    .filter(|(s, _)| s.block == blk)
                    .map(|(_, w)| w)
                    .sum();
                assert!(
                    (total - 1.0 / 3.0).abs() < 1e-12,
                    "{sampling} {blk:?}: {total}"
                );
            }
        }
    }

    #[test]
    fn orders_train_the_facts_and_the_implications_in_two_phases() {
        for (order, first) in [
            ("fact_first", vec![Block::TrainFacts, Block::TestFacts]),
            ("impl_first", vec![Block::TrainImplications]),
        ] {
            let (c, t) = setup(&[&format!("task.order={order}"), "train.steps=10"]);
            let mut b = Batcher::new(&c, &t);
            for step in 1..=10 {
                let blocks: std::collections::BTreeSet<_> = b
                    .batch(step, &t)
                    .samples
                    .iter()
                    .map(|s| s.block as u8)
                    .collect();
                let in_first = first.iter().all(|x| blocks.contains(&(*x as u8)))
                    && blocks.len() == first.len();
                assert_eq!(in_first, step <= 5, "{order} step {step}: {blocks:?}");
            }
            let (c, t) = setup(&[
                &format!("task.order={order}"),
                "train.steps=10",
                "task.first_phase_steps=2",
            ]);
            let b = Batcher::new(&c, &t);
            assert_eq!((b.phase(2), b.phase(3)), (0, 1));
        }
    }

    #[test]
    fn fresh_eval_sets_cover_every_block_and_depend_on_the_step() {
        let (_, t) = setup(&["task.seq_len=16", "task.noise_tokens=5"]);
        let a = fresh_eval_set(&t, 0, 100, 7);
        assert_eq!(a.len(), 28);
        for b in Block::ALL {
            assert_eq!(a.iter().filter(|s| s.block == b).count(), 7);
        }
        assert_eq!(a, fresh_eval_set(&t, 0, 100, 7));
        assert_ne!(a, fresh_eval_set(&t, 0, 200, 7));
    }
}
