//! The symbolic fact/implication task (the paper's Sec. 3): subjects, relations, answers, the four blocks.
//!
//! Vocabulary layout (token ids): subjects `0..|S|` in cyclic order (s_{1,1}, s_{2,1}, …, s_{n,1},
//! s_{1,2}, …), then r1, r2, then the facts b_1..b_n, the implications c_1..c_n, EOS, and the
//! noise tokens. The answers A = facts ∪ implications are therefore one contiguous range.

use crate::config::TaskConfig;
use crate::rng::{rng, Stream};
use rand::Rng;
use serde::Serialize;

/// One of the four blocks of the task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Block {
    /// (s, r1, b) for training subjects.
    TrainFacts,
    /// (s, r2, c) for training subjects.
    TrainImplications,
    /// (s, r1, b) for test subjects (also trained on).
    TestFacts,
    /// (s, r2, c) for test subjects: D_test.
    TestImplications,
}

impl Block {
    /// All four, in the order train facts, train implications, test facts, test implications.
    pub const ALL: [Block; 4] = [
        Block::TrainFacts,
        Block::TrainImplications,
        Block::TestFacts,
        Block::TestImplications,
    ];

    /// File-name / key stem, e.g. `train_facts`.
    pub fn name(self) -> &'static str {
        match self {
            Block::TrainFacts => "train_facts",
            Block::TrainImplications => "train_implications",
            Block::TestFacts => "test_facts",
            Block::TestImplications => "test_implications",
        }
    }

    /// Whether the block is part of D_train.
    pub fn in_train(self) -> bool {
        self != Block::TestImplications
    }
}

/// One sequence and its target answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// Token ids, EOS last.
    pub tokens: Vec<usize>,
    /// Target answer token id a*(s, r).
    pub target: usize,
    /// Subject token id.
    pub subject: usize,
    /// Relation token id (r1 or r2).
    pub relation: usize,
    /// Pair index i (0-based).
    pub pair: usize,
    /// Block it belongs to.
    pub block: Block,
}

/// The generated task: vocabulary and samples of the four blocks.
#[derive(Debug, Clone)]
pub struct Task {
    /// The config it was made from.
    pub cfg: TaskConfig,
    /// Samples of every block; `block_range` indexes into this.
    pub samples: Vec<Sample>,
    ranges: [std::ops::Range<usize>; 4],
}

impl Task {
    /// Generates the task; noise positions and fillers (if any) come from `seed`.
    pub fn new(cfg: &TaskConfig, seed: u64) -> Task {
        let mut task = Task {
            cfg: cfg.clone(),
            samples: Vec::new(),
            ranges: Default::default(),
        };
        let mut r = rng(seed, Stream::Task);
        for (bi, block) in Block::ALL.into_iter().enumerate() {
            let start = task.samples.len();
            let train_subjects = matches!(block, Block::TrainFacts | Block::TrainImplications);
            let implication = matches!(block, Block::TrainImplications | Block::TestImplications);
            for s in task.subjects() {
                let (pair, j) = task.subject_pair(s);
                if (j < cfg.m_train) != train_subjects {
                    continue;
                }
                let (relation, target) = if implication {
                    (task.r2(), task.implication(pair))
                } else {
                    (task.r1(), task.fact(pair))
                };
                let tokens = task.sequence(s, relation, &mut r);
                task.samples.push(Sample {
                    tokens,
                    target,
                    subject: s,
                    relation,
                    pair,
                    block,
                });
            }
            task.ranges[bi] = start..task.samples.len();
        }
        task
    }

    fn sequence(&self, s: usize, rel: usize, r: &mut impl Rng) -> Vec<usize> {
        let mut tokens = Vec::with_capacity(self.cfg.seq_len);
        self.fill_sequence(s, rel, r, &mut tokens);
        tokens
    }

    /// Writes a sequence of subject `s` and relation `rel` into `tokens`: [s, rel, EOS] when
    /// seq_len = 3, else seq_len − 3 noise tokens drawn with replacement, s and rel at random
    /// distinct positions before the final EOS.
    pub fn fill_sequence(&self, s: usize, rel: usize, r: &mut impl Rng, tokens: &mut Vec<usize>) {
        let t = self.cfg.seq_len;
        tokens.clear();
        if t == 3 {
            tokens.extend([s, rel, self.eos()]);
            return;
        }
        tokens
            .extend((0..t - 1).map(|_| self.eos() + 1 + r.random_range(0..self.cfg.noise_tokens)));
        let ps = r.random_range(0..t - 1);
        let mut pr = r.random_range(0..t - 2);
        if pr >= ps {
            pr += 1;
        }
        tokens[ps] = s;
        tokens[pr] = rel;
        tokens.push(self.eos());
    }

    /// Overwrites `out` with a fresh sequence of sample `proto`'s subject and relation (new noise
    /// and positions; the same target and block).
    pub fn resample_into(&self, proto: &Sample, r: &mut impl Rng, out: &mut Sample) {
        self.fill_sequence(proto.subject, proto.relation, r, &mut out.tokens);
        out.target = proto.target;
        out.subject = proto.subject;
        out.relation = proto.relation;
        out.pair = proto.pair;
        out.block = proto.block;
    }

    /// Number of subjects |S| = n (m_train + m_test).
    pub fn n_subjects(&self) -> usize {
        self.cfg.n * (self.cfg.m_train + self.cfg.m_test)
    }
    /// Subject token ids.
    pub fn subjects(&self) -> std::ops::Range<usize> {
        0..self.n_subjects()
    }
    /// (pair i, index j within its group), both 0-based, of subject token `s`.
    pub fn subject_pair(&self, s: usize) -> (usize, usize) {
        (s % self.cfg.n, s / self.cfg.n)
    }
    /// Whether subject `s` is a training subject.
    pub fn is_train_subject(&self, s: usize) -> bool {
        self.subject_pair(s).1 < self.cfg.m_train
    }
    /// Token id of r1 (the fact relation).
    pub fn r1(&self) -> usize {
        self.n_subjects()
    }
    /// Token id of r2 (the implication relation).
    pub fn r2(&self) -> usize {
        self.n_subjects() + 1
    }
    /// Token id of fact b_i.
    pub fn fact(&self, i: usize) -> usize {
        self.n_subjects() + 2 + i
    }
    /// Token id of implication c_i.
    pub fn implication(&self, i: usize) -> usize {
        self.n_subjects() + 2 + self.cfg.n + i
    }
    /// The answer set A = facts ∪ implications, a contiguous id range.
    pub fn answers(&self) -> std::ops::Range<usize> {
        self.fact(0)..self.fact(0) + 2 * self.cfg.n
    }
    /// Token id of EOS.
    pub fn eos(&self) -> usize {
        self.n_subjects() + 2 + 2 * self.cfg.n
    }
    /// Vocabulary size M.
    pub fn vocab_size(&self) -> usize {
        self.cfg.vocab_size()
    }
    /// Samples of one block.
    pub fn block(&self, b: Block) -> &[Sample] {
        &self.samples[self.ranges[b as usize].clone()]
    }
    /// D_train = train facts ∪ train implications ∪ test facts.
    pub fn train_samples(&self) -> &[Sample] {
        &self.samples[self.ranges[0].start..self.ranges[2].end]
    }
    /// D_test = test implications.
    pub fn test_samples(&self) -> &[Sample] {
        self.block(Block::TestImplications)
    }

    /// Human-readable name of token `z`: `s_3_1` (pair 3, subject 1; 1-based), `r1`, `b_3`, `c_3`, `EOS`, `noise_1`.
    pub fn token_name(&self, z: usize) -> String {
        let n = self.cfg.n;
        let ns = self.n_subjects();
        if z < ns {
            let (i, j) = self.subject_pair(z);
            format!("s_{}_{}", i + 1, j + 1)
        } else if z == self.r1() {
            "r1".into()
        } else if z == self.r2() {
            "r2".into()
        } else if z < self.fact(0) + n {
            format!("b_{}", z - self.fact(0) + 1)
        } else if z < self.implication(0) + n {
            format!("c_{}", z - self.implication(0) + 1)
        } else if z == self.eos() {
            "EOS".into()
        } else {
            format!("noise_{}", z - self.eos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper() -> Task {
        Task::new(&TaskConfig::default(), 0)
    }

    #[test]
    fn paper_sizes() {
        let t = paper();
        assert_eq!(t.n_subjects(), 80);
        assert_eq!(t.vocab_size(), 123);
        assert_eq!(t.block(Block::TrainFacts).len(), 20);
        assert_eq!(t.block(Block::TrainImplications).len(), 20);
        assert_eq!(t.block(Block::TestFacts).len(), 60);
        assert_eq!(t.block(Block::TestImplications).len(), 60);
        assert_eq!(t.train_samples().len(), 100);
        assert!(t.train_samples().iter().all(|s| s.block.in_train()));
        assert!(t.test_samples().iter().all(|s| !s.block.in_train()));
    }

    #[test]
    fn cyclic_subjects_and_rule() {
        let t = paper();
        assert_eq!(t.token_name(0), "s_1_1");
        assert_eq!(t.token_name(1), "s_2_1");
        assert_eq!(t.token_name(20), "s_1_2");
        assert_eq!(t.token_name(79), "s_20_4");
        for s in &t.samples {
            let want = if s.relation == t.r1() {
                t.fact(s.pair)
            } else {
                t.implication(s.pair)
            };
            assert_eq!(s.target, want);
            assert_eq!(t.subject_pair(s.subject).0, s.pair);
            assert_eq!(s.tokens, vec![s.subject, s.relation, t.eos()]);
        }
        let names: std::collections::HashSet<_> =
            (0..t.vocab_size()).map(|z| t.token_name(z)).collect();
        assert_eq!(names.len(), t.vocab_size());
    }

    #[test]
    fn noise_variant() {
        let cfg = TaskConfig {
            seq_len: 16,
            noise_tokens: 5,
            ..TaskConfig::default()
        };
        let t = Task::new(&cfg, 7);
        assert_eq!(t.vocab_size(), 128);
        for s in &t.samples {
            assert_eq!(s.tokens.len(), 16);
            assert_eq!(*s.tokens.last().unwrap(), t.eos());
            assert_eq!(s.tokens.iter().filter(|&&z| z == s.subject).count(), 1);
            assert_eq!(s.tokens.iter().filter(|&&z| z == s.relation).count(), 1);
            let noise = s.tokens.iter().filter(|&&z| z > t.eos()).count();
            assert_eq!(noise, 13);
        }
        assert_eq!(Task::new(&cfg, 7).samples, t.samples);
        assert_ne!(Task::new(&cfg, 8).samples, t.samples);
    }
}
