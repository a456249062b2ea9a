//! Metrics of a model on the task: block losses, test accuracy and mean rank, margins, norms, rank.

use crate::grad::xent_eps_from_logits;
use crate::model::Model;
use crate::rank::rank_with_ties;
use crate::task::{Block, Sample, Task};
use serde::Serialize;

/// Singular values below this fraction of the largest do not count toward the numerical rank.
pub const RANK_RTOL: f64 = 1e-2;

/// Every logged quantity; `metrics.jsonl` lines and `summary.json`'s `final` use these keys.
/// NaN (e.g. test metrics when m_test = 0) is written as JSON null.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Metrics {
    /// Mean cross-entropy over D_train.
    pub train_loss: f64,
    /// Mean cross-entropy over D_test (test implications).
    pub test_loss: f64,
    /// Share of test implications whose true answer ranks strictly first among A.
    pub test_accuracy: f64,
    /// Mean 0-indexed rank (ties half) of the true implication among all answers A.
    pub test_mean_rank: f64,
    /// Mean loss on train facts.
    pub loss_train_facts: f64,
    /// Mean loss on train implications.
    pub loss_train_implications: f64,
    /// Mean loss on test facts.
    pub loss_test_facts: f64,
    /// Mean loss on test implications.
    pub loss_test_implications: f64,
    /// min over D_train and a' ∈ A \ {a*} of f(a*) − f(a').
    pub margin_train_min: f64,
    /// min over test implications (s, r2) and c' ≠ c* of f(c*) − f(c').
    pub margin_test_vs_implications_min: f64,
    /// min over test implications (s, r2) and facts b of f(c*) − f(b).
    pub margin_test_vs_facts_min: f64,
    /// Nuclear norm of W_OV (= W_O W_Vᵀ when factorized).
    pub nuclear_norm: f64,
    /// Frobenius norm of W_OV.
    pub frobenius_norm: f64,
    /// Numerical rank of W_OV: singular values above `RANK_RTOL` × the largest.
    pub rank: usize,
    /// Cosine between W_OV[A, S∪R] and the nuclear-norm SVM solution (fixed attention; else null).
    pub cos_nuclear_svm: Option<f64>,
    /// Cosine between W_OV[A, S∪R] and the Frobenius-norm SVM solution (fixed attention; else null).
    pub cos_frobenius_svm: Option<f64>,
}

impl Metrics {
    /// Every metric key, in field order: the keys of a `metrics.jsonl` line (after `step`) and of
    /// `summary.json`'s `final`. Checked against the serialized struct by a test.
    pub const KEYS: [&'static str; 16] = [
        "train_loss",
        "test_loss",
        "test_accuracy",
        "test_mean_rank",
        "loss_train_facts",
        "loss_train_implications",
        "loss_test_facts",
        "loss_test_implications",
        "margin_train_min",
        "margin_test_vs_implications_min",
        "margin_test_vs_facts_min",
        "nuclear_norm",
        "frobenius_norm",
        "rank",
        "cos_nuclear_svm",
        "cos_frobenius_svm",
    ];

    /// Every metric as a number, in [`Metrics::KEYS`] order (`rank` as a float, an absent cosine
    /// as NaN).
    pub fn values(&self) -> [f64; 16] {
        [
            self.train_loss,
            self.test_loss,
            self.test_accuracy,
            self.test_mean_rank,
            self.loss_train_facts,
            self.loss_train_implications,
            self.loss_test_facts,
            self.loss_test_implications,
            self.margin_train_min,
            self.margin_test_vs_implications_min,
            self.margin_test_vs_facts_min,
            self.nuclear_norm,
            self.frobenius_norm,
            self.rank as f64,
            self.cos_nuclear_svm.unwrap_or(f64::NAN),
            self.cos_frobenius_svm.unwrap_or(f64::NAN),
        ]
    }

    /// The metric named `key` (one of [`Metrics::KEYS`]) as a number.
    pub fn get(&self, key: &str) -> Option<f64> {
        let i = Self::KEYS.iter().position(|k| *k == key)?;
        Some(self.values()[i])
    }
}

/// The two max-margin solutions a run is compared against (answers × (S ∪ R) layout).
#[derive(Debug, Clone)]
pub struct SvmReference {
    /// Minimum-nuclear-norm solution.
    pub nuclear: faer::Mat<f64>,
    /// Minimum-Frobenius-norm solution.
    pub frobenius: faer::Mat<f64>,
}

/// Cosine similarity of two equally shaped matrices (NaN if either is zero).
pub fn cosine(a: faer::MatRef<'_, f64>, b: faer::MatRef<'_, f64>) -> f64 {
    let (mut ab, mut aa, mut bb) = (0.0, 0.0, 0.0);
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            let (x, y) = (a[(i, j)], b[(i, j)]);
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
    }
    ab / (aa.sqrt() * bb.sqrt())
}

/// Singular values of `m`, largest first.
pub fn singular_values(m: faer::MatRef<'_, f64>) -> Vec<f64> {
    let mut s = m
        .singular_values()
        .unwrap_or_else(|_| vec![f64::NAN; m.nrows().min(m.ncols())]);
    s.sort_by(|a, b| b.total_cmp(a));
    s
}

/// Computes every metric of `model` on `task`'s fixed sequences.
pub fn evaluate(model: &Model, task: &Task, svm: Option<&SvmReference>) -> Metrics {
    evaluate_on(model, task, &task.samples, None, 0.0, svm)
}

/// Computes every metric of `model` on `samples` (sequences of `task`'s blocks, e.g. a fresh
/// evaluation set), with losses −ln(p + `loss_eps`). `train_loss` is Σ_b shares[b] · (mean loss of
/// block b) over train facts, train implications, test facts, or with `shares = None` the plain
/// mean over the trained sequences of `samples`.
pub fn evaluate_on(
    model: &Model,
    task: &Task,
    samples: &[Sample],
    shares: Option<[f64; 3]>,
    loss_eps: f64,
    svm: Option<&SvmReference>,
) -> Metrics {
    let eff = model.effective();
    let a0 = task.answers().start - eff.rows.start;
    let na = task.answers().len();
    let n = task.cfg.n;
    let mut logits = vec![0.0; eff.rows.len()];
    let mut block_loss = [0.0f64; 4];
    let mut m = Metrics {
        margin_train_min: f64::INFINITY,
        margin_test_vs_implications_min: f64::INFINITY,
        margin_test_vs_facts_min: f64::INFINITY,
        ..Metrics::default()
    };
    let (mut rank_sum, mut correct) = (0.0, 0usize);
    let mut counts = [0usize; 4];
    for s in samples {
        eff.logits(&s.tokens, &mut logits);
        let loss = xent_eps_from_logits(&logits, s.target - eff.rows.start, loss_eps);
        block_loss[s.block as usize] += loss;
        counts[s.block as usize] += 1;
        let ans = &logits[a0..a0 + na];
        let t = s.target - task.answers().start;
        let margin_vs = |range: std::ops::Range<usize>| {
            range
                .filter(|&a| a != t)
                .map(|a| ans[t] - ans[a])
                .fold(f64::INFINITY, f64::min)
        };
        if s.block.in_train() {
            m.margin_train_min = m.margin_train_min.min(margin_vs(0..na));
        } else {
            let r = rank_with_ties(ans, t);
            rank_sum += r;
            correct += usize::from(r == 0.0);
            m.margin_test_vs_implications_min =
                m.margin_test_vs_implications_min.min(margin_vs(n..na));
            m.margin_test_vs_facts_min = m.margin_test_vs_facts_min.min(margin_vs(0..n));
        }
    }
    let count = |b: Block| counts[b as usize] as f64;
    let mean = |b: Block| block_loss[b as usize] / count(b);
    m.loss_train_facts = mean(Block::TrainFacts);
    m.loss_train_implications = mean(Block::TrainImplications);
    m.loss_test_facts = mean(Block::TestFacts);
    m.loss_test_implications = mean(Block::TestImplications);
    m.train_loss = match shares {
        None => block_loss[..3].iter().sum::<f64>() / counts[..3].iter().sum::<usize>() as f64,
        Some(w) => [
            Block::TrainFacts,
            Block::TrainImplications,
            Block::TestFacts,
        ]
        .iter()
        .zip(w)
        .filter(|(_, w)| *w > 0.0)
        .map(|(&b, w)| w * mean(b))
        .sum(),
    };
    let n_test = count(Block::TestImplications);
    m.test_loss = m.loss_test_implications;
    m.test_accuracy = correct as f64 / n_test;
    m.test_mean_rank = rank_sum / n_test;
    if n_test == 0.0 {
        m.margin_test_vs_implications_min = f64::NAN;
        m.margin_test_vs_facts_min = f64::NAN;
    }
    let w = model.w_ov();
    let sv = singular_values(w.as_ref());
    m.nuclear_norm = sv.iter().sum();
    m.frobenius_norm = sv.iter().map(|x| x * x).sum::<f64>().sqrt();
    m.rank = sv
        .iter()
        .filter(|&&x| x > RANK_RTOL * sv[0] && x > 0.0)
        .count();
    if let Some(r) = svm {
        let wb = model.w_answers_context(task);
        m.cos_nuclear_svm = Some(cosine(wb.as_ref(), r.nuclear.as_ref()));
        m.cos_frobenius_svm = Some(cosine(wb.as_ref(), r.frobenius.as_ref()));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_the_serialized_fields_in_order() {
        let m = Metrics {
            rank: 3,
            train_loss: 0.5,
            cos_nuclear_svm: Some(0.25),
            ..Metrics::default()
        };
        let text = serde_json::to_string(&m).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let fields = v.as_object().unwrap();
        assert_eq!(fields.len(), Metrics::KEYS.len());
        let mut last = 0;
        for k in Metrics::KEYS {
            let pos = text
                .find(&format!("\"{k}\":"))
                .unwrap_or_else(|| panic!("{k} missing"));
            assert!(pos >= last, "{k} out of order");
            last = pos;
        }
        assert_eq!(m.get("rank"), Some(3.0));
        assert_eq!(m.get("train_loss"), Some(0.5));
        assert_eq!(m.get("cos_nuclear_svm"), Some(0.25));
        assert!(m.get("cos_frobenius_svm").unwrap().is_nan());
        assert_eq!(m.get("nope"), None);
    }
}
