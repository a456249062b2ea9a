//! The one-layer, one-head, linear-attention transformer of the paper's Sec. 3, in f64.
//!
//! ```text
//! factorized:      f(X) = W_O W_V^T X^T X W_KQ x_T
//! non-factorized:  f(X) = W_OV      X^T X W_KQ x_T
//! ```
//!
//! **Frame.** With orthonormal embeddings E (d × M, d ≥ M) completed to an orthogonal U = [E, E⊥],
//! the parameters are stored in the embedding's own frame: P_O = Uᵀ W_O, P_V = Uᵀ W_V,
//! P_OV = Uᵀ W_OV U, and the attention vector κ = Eᵀ W_KQ x_T (the query is always EOS, so only this
//! column of W_KQ matters). Then every product with X is a gather: the logit of answer a for a
//! sequence z_1..z_T is `Σ_t κ(z_t) · W̃(a, z_t)` with `W̃ = P_O P_Vᵀ` (or P_OV) read in token
//! coordinates. Gradient descent is invariant under this orthogonal change of variables, so it
//! trains exactly the model with embedding E; one-hot embeddings are the case U = I. Rows of P beyond
//! M (the complement E⊥) never reach a logit and receive no gradient.

use crate::config::{Attention, Config, Param, Softmax};
use crate::task::Task;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use std::ops::Range;

/// The model: shapes, the flat parameter vector and the fixed attention pattern.
#[derive(Debug, Clone)]
pub struct Model {
    /// factorized | nonfactorized.
    pub param: Param,
    /// fixed | trainable.
    pub attention: Attention,
    /// answers | vocab.
    pub softmax: Softmax,
    /// Vocabulary size M.
    pub vocab: usize,
    /// Embedding dimension d.
    pub d: usize,
    /// Head dimension d_h (factorized).
    pub d_h: usize,
    /// The answer set A (token ids).
    pub answers: Range<usize>,
    /// All trainable parameters, flat: `[P_O, P_V]` (d×d_h each, column-major) or `[P_OV]` (d×d),
    /// followed by κ (M) when attention is trainable.
    pub params: Vec<f64>,
    /// κ when attention is fixed: 1 on subjects and relations, 0 elsewhere.
    fixed_kappa: Vec<f64>,
    /// Output rows whose logits are computed (A, or the whole vocabulary).
    rows: Range<usize>,
    /// Token columns that can carry attention.
    cols: Range<usize>,
}

/// W̃ restricted to the rows and columns a forward pass needs, and κ.
#[derive(Debug, Clone, Default)]
pub struct Effective {
    /// Output rows (token ids).
    pub rows: Range<usize>,
    /// Context columns (token ids).
    pub cols: Range<usize>,
    /// W̃[rows, cols], column-major with leading dimension `rows.len()`.
    pub w: Vec<f64>,
    /// κ(z) for every token z.
    pub kappa: Vec<f64>,
}

impl Effective {
    /// W̃(a, z) for a in `rows`, z in `cols`.
    #[inline]
    pub fn get(&self, a: usize, z: usize) -> f64 {
        self.w[(z - self.cols.start) * self.rows.len() + (a - self.rows.start)]
    }

    /// Logits over `rows` for one sequence: `out[a] = Σ_t κ(z_t) W̃(a, z_t)`.
    pub fn logits(&self, tokens: &[usize], out: &mut [f64]) {
        let nr = self.rows.len();
        out.fill(0.0);
        for &z in tokens {
            let k = self.kappa[z];
            if k == 0.0 || !self.cols.contains(&z) {
                continue;
            }
            let col = &self.w[(z - self.cols.start) * nr..][..nr];
            for (o, w) in out.iter_mut().zip(col) {
                *o += k * w;
            }
        }
    }
}

impl Model {
    /// A zero-initialized model for `cfg` on `task` (see `init::initialize`).
    pub fn zeros(cfg: &Config, task: &Task) -> Model {
        let vocab = task.vocab_size();
        let d = cfg.model.dim(vocab);
        let d_h = cfg.model.d_h;
        let n_w = match cfg.model.param {
            Param::Factorized => 2 * d * d_h,
            Param::Nonfactorized => d * d,
        };
        let n_k = match cfg.model.attention {
            Attention::Fixed => 0,
            Attention::Trainable => vocab,
        };
        let mut fixed_kappa = vec![0.0; vocab];
        for z in task.subjects().chain([task.r1(), task.r2()]) {
            fixed_kappa[z] = 1.0;
        }
        let rows = match cfg.model.softmax {
            Softmax::Answers => task.answers(),
            Softmax::Vocab => 0..vocab,
        };
        let cols = match cfg.model.attention {
            Attention::Fixed => 0..task.r2() + 1,
            Attention::Trainable => 0..vocab,
        };
        Model {
            param: cfg.model.param,
            attention: cfg.model.attention,
            softmax: cfg.model.softmax,
            vocab,
            d,
            d_h,
            answers: task.answers(),
            params: vec![0.0; n_w + n_k],
            fixed_kappa,
            rows,
            cols,
        }
    }

    /// Number of weight entries before κ.
    pub fn n_weights(&self) -> usize {
        match self.param {
            Param::Factorized => 2 * self.d * self.d_h,
            Param::Nonfactorized => self.d * self.d,
        }
    }

    /// P_O (d × d_h), factorized only.
    pub fn p_o(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(&self.params[..self.d * self.d_h], self.d, self.d_h)
    }
    /// P_V (d × d_h), factorized only.
    pub fn p_v(&self) -> MatRef<'_, f64> {
        let n = self.d * self.d_h;
        MatRef::from_column_major_slice(&self.params[n..2 * n], self.d, self.d_h)
    }
    /// P_OV (d × d), non-factorized only.
    pub fn p_ov(&self) -> MatRef<'_, f64> {
        MatRef::from_column_major_slice(&self.params[..self.d * self.d], self.d, self.d)
    }
    /// κ(z) for every token: the trained vector, or the fixed pattern.
    pub fn kappa(&self) -> &[f64] {
        match self.attention {
            Attention::Fixed => &self.fixed_kappa,
            Attention::Trainable => &self.params[self.n_weights()..],
        }
    }
    /// Output rows whose logits the loss uses.
    pub fn rows(&self) -> Range<usize> {
        self.rows.clone()
    }
    /// Context columns that can carry attention.
    pub fn cols(&self) -> Range<usize> {
        self.cols.clone()
    }

    /// Flat index ranges of `params` that can receive a non-zero gradient (factor rows of the
    /// output and context tokens, the W̃ block, κ). Every other entry has an exactly zero gradient.
    pub fn active_ranges(&self) -> Vec<Range<usize>> {
        let (d, dh) = (self.d, self.d_h);
        let mut out = Vec::new();
        match self.param {
            Param::Factorized => {
                for k in 0..dh {
                    out.push(k * d + self.rows.start..k * d + self.rows.end);
                }
                for k in 0..dh {
                    let base = d * dh + k * d;
                    out.push(base + self.cols.start..base + self.cols.end);
                }
            }
            Param::Nonfactorized => {
                for c in self.cols.clone() {
                    out.push(c * d + self.rows.start..c * d + self.rows.end);
                }
            }
        }
        if self.attention == Attention::Trainable {
            out.push(self.n_weights()..self.params.len());
        }
        out
    }

    /// Computes W̃[rows, cols] and κ into `eff` (reusing its buffers).
    pub fn effective_into(&self, eff: &mut Effective) {
        let (rows, cols) = (self.rows.clone(), self.cols.clone());
        eff.w.resize(rows.len() * cols.len(), 0.0);
        let dst = MatMut::from_column_major_slice_mut(&mut eff.w, rows.len(), cols.len());
        self.block_into(rows.clone(), cols.clone(), dst);
        eff.rows = rows;
        eff.cols = cols;
        eff.kappa.clear();
        eff.kappa.extend_from_slice(self.kappa());
    }

    /// The forward cache for the current parameters.
    pub fn effective(&self) -> Effective {
        let mut e = Effective::default();
        self.effective_into(&mut e);
        e
    }

    /// Writes W̃[rows, cols] (token frame) into `dst`; a product of factor rows when factorized.
    pub fn block_into(&self, rows: Range<usize>, cols: Range<usize>, dst: MatMut<'_, f64>) {
        match self.param {
            Param::Factorized => {
                let o = self.p_o().subrows(rows.start, rows.len());
                let v = self.p_v().subrows(cols.start, cols.len());
                matmul(dst, Accum::Replace, o, v.transpose(), 1.0, Par::Seq);
            }
            Param::Nonfactorized => {
                let src = self
                    .p_ov()
                    .submatrix(rows.start, cols.start, rows.len(), cols.len());
                let mut dst = dst;
                dst.copy_from(src);
            }
        }
    }

    /// The whole W_OV (= P_O P_Vᵀ when factorized) in the token frame, d × d column-major.
    pub fn w_ov(&self) -> faer::Mat<f64> {
        let mut m = faer::Mat::zeros(self.d, self.d);
        self.block_into(0..self.d, 0..self.d, m.as_mut());
        m
    }

    /// W_OV restricted to answers × (subjects ∪ relations): the matrix the max-margin programs act on.
    pub fn w_answers_context(&self, task: &Task) -> faer::Mat<f64> {
        let (rows, cols) = (task.answers(), 0..task.r2() + 1);
        let mut m = faer::Mat::zeros(rows.len(), cols.len());
        self.block_into(rows, cols, m.as_mut());
        m
    }
}
