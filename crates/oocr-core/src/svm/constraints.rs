//! The margin constraints h_{(s,r),a'}(W) ≥ 1 of the max-margin programs, as a linear operator.
//!
//! W is the answers × context matrix of `Model::w_answers_context`: row `a` is answer token
//! `answers.start + a` (b_1..b_n, then c_1..c_n), column `z` is token `z` (subjects, then r1, r2).
//! With fixed attention the logit of answer a on (s, r) is W(a, s) + W(a, r) = (W x)(a) with
//! x = e_s + e_r, so each constraint is ⟨H, W⟩ ≥ 1 with H = (e_{a*} − e_{a'}) xᵀ.
//!
//! Multipliers λ are stored per example as a full answer vector (`lam[p * rows + a]`); the entry of
//! the correct answer is unused and kept at 0.

use crate::task::{Sample, Task};
use faer::{Mat, MatMut, MatRef};

/// One example (s, r) with its correct answer: the columns it reads and the row of a*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Example {
    /// Subject column (token id).
    pub s: usize,
    /// Relation column (token id).
    pub r: usize,
    /// Row of the correct answer a*(s, r).
    pub target: usize,
}

/// All margin constraints of a set of examples against every wrong answer.
#[derive(Debug, Clone)]
pub struct Constraints {
    /// Number of answers (rows of W).
    pub rows: usize,
    /// Number of context tokens (columns of W).
    pub cols: usize,
    /// The examples; each contributes `rows - 1` constraints.
    pub examples: Vec<Example>,
}

impl Constraints {
    /// The examples of `samples` of `task`, in the answers × context layout.
    pub fn from_samples(task: &Task, samples: &[Sample]) -> Constraints {
        let a0 = task.answers().start;
        Constraints {
            rows: task.answers().len(),
            cols: task.r2() + 1,
            examples: samples
                .iter()
                .map(|x| Example {
                    s: x.subject,
                    r: x.relation,
                    target: x.target - a0,
                })
                .collect(),
        }
    }

    /// The program's constraints: every (s, r) of D_train against every wrong answer.
    pub fn train(task: &Task) -> Constraints {
        Constraints::from_samples(task, task.train_samples())
    }

    /// Number of margin constraints.
    pub fn len(&self) -> usize {
        self.examples.len() * self.rows.saturating_sub(1)
    }

    /// Whether there is no constraint at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Length of a multiplier vector (`examples × rows`, target entries unused).
    pub fn lam_len(&self) -> usize {
        self.examples.len() * self.rows
    }

    /// Logit of row `a` for example `e`: W(a, s) + W(a, r).
    #[inline]
    pub fn logit(w: MatRef<'_, f64>, e: &Example, a: usize) -> f64 {
        w[(a, e.s)] + w[(a, e.r)]
    }

    /// Writes every margin into `out` (layout of λ; the target entry gets +∞).
    pub fn margins_into(&self, w: MatRef<'_, f64>, out: &mut [f64]) {
        assert_eq!(out.len(), self.lam_len());
        for (p, e) in self.examples.iter().enumerate() {
            let ft = Constraints::logit(w, e, e.target);
            let o = &mut out[p * self.rows..(p + 1) * self.rows];
            for (a, x) in o.iter_mut().enumerate() {
                *x = if a == e.target {
                    f64::INFINITY
                } else {
                    ft - Constraints::logit(w, e, a)
                };
            }
        }
    }

    /// The smallest margin min_k ⟨H_k, W⟩ (+∞ when there is no constraint).
    pub fn min_margin(&self, w: MatRef<'_, f64>) -> f64 {
        let mut m = f64::INFINITY;
        for e in &self.examples {
            let ft = Constraints::logit(w, e, e.target);
            for a in (0..self.rows).filter(|&a| a != e.target) {
                m = m.min(ft - Constraints::logit(w, e, a));
            }
        }
        m
    }

    /// The adjoint Σ_k λ_k H_k, written into `out` (rows × cols).
    pub fn adjoint_into(&self, lam: &[f64], mut out: MatMut<'_, f64>) {
        assert_eq!(lam.len(), self.lam_len());
        out.fill(0.0);
        for (p, e) in self.examples.iter().enumerate() {
            let l = &lam[p * self.rows..(p + 1) * self.rows];
            let total: f64 = l
                .iter()
                .enumerate()
                .filter(|&(a, _)| a != e.target)
                .map(|(_, x)| x)
                .sum();
            for c in [e.s, e.r] {
                for (a, &x) in l.iter().enumerate() {
                    if a == e.target {
                        out[(a, c)] += total;
                    } else {
                        out[(a, c)] -= x;
                    }
                }
            }
        }
    }

    /// The adjoint Σ_k λ_k H_k as a new matrix.
    pub fn adjoint(&self, lam: &[f64]) -> Mat<f64> {
        let mut out = Mat::zeros(self.rows, self.cols);
        self.adjoint_into(lam, out.as_mut());
        out
    }

    /// Σ_k λ_k over the real constraints (target entries excluded).
    pub fn lam_sum(&self, lam: &[f64]) -> f64 {
        let mut s = 0.0;
        for (p, e) in self.examples.iter().enumerate() {
            for a in (0..self.rows).filter(|&a| a != e.target) {
                s += lam[p * self.rows + a];
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TaskConfig;

    #[test]
    fn adjoint_is_the_transpose_of_the_margin_map() {
        // ⟨Σ λ_k H_k, W⟩ = Σ λ_k ⟨H_k, W⟩ for random W and λ.
        let cfg = TaskConfig {
            n: 3,
            m_train: 1,
            m_test: 2,
            ..TaskConfig::default()
        };
        let task = Task::new(&cfg, 0);
        let c = Constraints::train(&task);
        assert_eq!(c.len(), (9 + 3) * 5);
        let w = Mat::from_fn(c.rows, c.cols, |i, j| {
            ((i * 7 + j * 3) % 11) as f64 / 5.0 - 1.0
        });
        let mut lam: Vec<f64> = (0..c.lam_len())
            .map(|k| ((k * 13) % 7) as f64 / 3.0)
            .collect();
        for (p, e) in c.examples.iter().enumerate() {
            lam[p * c.rows + e.target] = 0.0;
        }
        let y = c.adjoint(&lam);
        let lhs: f64 = (0..c.rows)
            .flat_map(|i| (0..c.cols).map(move |j| (i, j)))
            .map(|(i, j)| y[(i, j)] * w[(i, j)])
            .sum();
        let mut m = vec![0.0; c.lam_len()];
        c.margins_into(w.as_ref(), &mut m);
        let rhs: f64 = m
            .iter()
            .zip(&lam)
            .filter(|(x, _)| x.is_finite())
            .map(|(x, l)| x * l)
            .sum();
        assert!((lhs - rhs).abs() < 1e-10, "{lhs} vs {rhs}");
    }
}
