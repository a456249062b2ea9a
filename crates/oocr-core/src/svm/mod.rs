//! The max-margin programs of the paper's Sec. 4 (Theorem 1), solved with an optimality certificate:
//!
//! ```text
//! min ‖W‖  s.t.  h_{(s,r),a'}(W) = f_W((s,r), a*) − f_W((s,r), a') ≥ 1   ∀ (s,r) ∈ D_train, a' ≠ a*
//! ```
//!
//! with the fixed-attention logit f_W((s,r), a) = W(a,s) + W(a,r) and ‖·‖ the nuclear norm
//! (limit direction of the factorized W_O W_Vᵀ) or the Frobenius norm (merged W_OV). W has the
//! layout of `Model::w_answers_context`: answers × (subjects ∪ {r1, r2}).
//!
//! Methods: [`symmetric`] (exact, through the task's symmetry: a tiny SOCP; the default for both
//! norms), [`nuclear`] (ADMM with singular-value thresholding, no symmetry assumed),
//! [`frobenius`] (dual coordinate ascent, no symmetry assumed) and, with the `sdp` feature,
//! `sdp` (the textbook interior-point SDP, for small cross-checks). Every answer is certified on
//! the full program by [`certificate::certify`].

pub mod certificate;
pub mod conic;
pub mod constraints;
pub mod frobenius;
pub mod linalg;
pub mod nuclear;
#[cfg(feature = "sdp")]
pub mod sdp;
pub mod symmetric;

use crate::config::{Attention, Config};
use crate::error::{Error, Result};
use crate::metrics::SvmReference;
use crate::task::{Block, Task};
use certificate::Certificate;
use constraints::Constraints;
use faer::{Mat, MatRef};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Which norm the program minimizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// ‖W‖_*, the sum of singular values (factorized model).
    Nuclear,
    /// ‖W‖_F (merged W_OV).
    Frobenius,
}

impl Norm {
    /// `nuclear` | `frobenius`.
    pub fn name(self) -> &'static str {
        match self {
            Norm::Nuclear => "nuclear",
            Norm::Frobenius => "frobenius",
        }
    }
}

/// Which algorithm solves the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// `reduced` for both norms.
    Auto,
    /// Exact SOCP through the task's symmetry ([`symmetric`]).
    Reduced,
    /// ADMM with singular-value thresholding on the full matrix ([`nuclear`]); nuclear only.
    Admm,
    /// Dual coordinate ascent on the full program ([`frobenius`]); Frobenius only.
    DualCd,
    /// Interior-point SDP (Clarabel, feature `sdp`); nuclear only, small tasks.
    Sdp,
}

impl Method {
    /// The name used on the command line and in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Method::Auto => "auto",
            Method::Reduced => "reduced",
            Method::Admm => "admm",
            Method::DualCd => "dual-cd",
            Method::Sdp => "sdp",
        }
    }
}

/// Solver options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveOptions {
    /// The algorithm.
    pub method: Method,
    /// Target certified relative duality gap.
    pub tol: f64,
    /// Iteration cap of the first-order methods.
    pub max_iter: usize,
}

impl Default for SolveOptions {
    fn default() -> Self {
        SolveOptions {
            method: Method::Auto,
            tol: 1e-8,
            max_iter: 200_000,
        }
    }
}

/// What a method returns before certification: a primal and a dual candidate.
#[derive(Debug, Clone)]
pub struct RawSolution {
    /// Primal candidate (any positive scale).
    pub w: Mat<f64>,
    /// Dual candidate λ (layout of [`Constraints::lam_len`], any positive scale).
    pub lam: Vec<f64>,
    /// Iterations of the method.
    pub iterations: usize,
    /// Whether the method met its own stopping rule.
    pub converged: bool,
    /// One line about the run (sizes, inner solver status).
    pub detail: String,
}

/// Outcome of a certified solve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Certified relative gap ≤ tol.
    Optimal,
    /// A feasible point with a certified gap above tol (iteration cap reached).
    Inaccurate,
}

/// A certified solution of one program.
#[derive(Debug, Clone)]
pub struct Solution {
    /// The norm minimized.
    pub norm: Norm,
    /// The method that produced it.
    pub method: Method,
    /// The solution, scaled so that its smallest training margin is exactly 1.
    pub w: Mat<f64>,
    /// The dual point, scaled so that ‖Σ λ H‖° = 1.
    pub lam: Vec<f64>,
    /// ‖w‖, an upper bound on the optimum within `certificate.gap` of it.
    pub objective: f64,
    /// optimal | inaccurate.
    pub status: Status,
    /// Iterations of the method.
    pub iterations: usize,
    /// Wall time of solve + certification, seconds.
    pub solve_s: f64,
    /// The duality-gap certificate on the full program.
    pub certificate: Certificate,
    /// One line about the run.
    pub detail: String,
}

/// Solves the `norm` program on `task` and certifies the answer on the full program.
pub fn solve(task: &Task, norm: Norm, opts: &SolveOptions) -> Result<Solution> {
    let t0 = Instant::now();
    let cons = Constraints::train(task);
    if cons.is_empty() {
        return Err(Error::Solver(
            "the program has no constraint (empty D_train)".into(),
        ));
    }
    let method = match opts.method {
        Method::Auto => Method::Reduced,
        m => m,
    };
    let raw = match (method, norm) {
        (Method::Reduced, _) => symmetric::solve(task, norm, 1e-10)?,
        (Method::Admm, Norm::Nuclear) => nuclear::solve(&cons, opts.tol, opts.max_iter)?,
        (Method::DualCd, Norm::Frobenius) => frobenius::solve(&cons, opts.tol, opts.max_iter)?,
        #[cfg(feature = "sdp")]
        (Method::Sdp, Norm::Nuclear) => sdp::solve(&cons, opts.tol)?,
        #[cfg(not(feature = "sdp"))]
        (Method::Sdp, _) => {
            return Err(Error::Solver(
                "method `sdp` needs oocr built with `--features sdp` (system OpenBLAS)".into(),
            ))
        }
        (m, nm) => {
            return Err(Error::Solver(format!(
                "method `{}` does not solve the {} program",
                m.name(),
                nm.name()
            )))
        }
    };
    let cert = certificate::certify(norm, &cons, raw.w.as_ref(), None, &raw.lam)?;
    if cert.raw_min_margin.is_nan() || cert.raw_min_margin <= 0.0 || !cert.primal.is_finite() {
        return Err(Error::Solver(format!(
            "method `{}` returned an infeasible point (min margin {})",
            method.name(),
            cert.raw_min_margin
        )));
    }
    let w = Mat::from_fn(raw.w.nrows(), raw.w.ncols(), |i, j| {
        raw.w[(i, j)] / cert.raw_min_margin
    });
    let lam = raw
        .lam
        .iter()
        .map(|x| x.max(0.0) / cert.raw_dual_norm.max(f64::MIN_POSITIVE))
        .collect();
    let status = if cert.rel_gap <= opts.tol {
        Status::Optimal
    } else {
        Status::Inaccurate
    };
    Ok(Solution {
        norm,
        method,
        w,
        lam,
        objective: cert.primal,
        status,
        iterations: raw.iterations,
        solve_s: t0.elapsed().as_secs_f64(),
        certificate: cert,
        detail: raw.detail,
    })
}

/// Smallest margins of a matrix W (answers × context layout) on the task's blocks.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Margins {
    /// min over D_train and all wrong answers (1 at a solution).
    pub train_min: f64,
    /// min over test implications (s, r2, c_i) against the other implications c_j;
    /// `None` without test subjects or with a single pair.
    pub test_vs_implications_min: Option<f64>,
    /// min over test implications against the facts b_j; `None` without test subjects.
    pub test_vs_facts_min: Option<f64>,
}

/// The margins of `w` on `task`.
pub fn margins(task: &Task, w: MatRef<'_, f64>) -> Margins {
    let n = task.cfg.n;
    let test = Constraints::from_samples(task, task.block(Block::TestImplications));
    let (mut vi, mut vf) = (None::<f64>, None::<f64>);
    for e in &test.examples {
        let ft = Constraints::logit(w, e, e.target);
        for a in (0..2 * n).filter(|&a| a != e.target) {
            let h = ft - Constraints::logit(w, e, a);
            let slot = if a >= n { &mut vi } else { &mut vf };
            *slot = Some(slot.map_or(h, |m| m.min(h)));
        }
    }
    Margins {
        train_min: Constraints::train(task).min_margin(w),
        test_vs_implications_min: vi,
        test_vs_facts_min: vf,
    }
}

/// Both SVM solutions of `task`, the reference a fixed-attention run is compared against
/// (`cos_nuclear_svm`, `cos_frobenius_svm`). The exact reduced method: milliseconds.
pub fn reference(task: &Task) -> Result<SvmReference> {
    let opts = SolveOptions::default();
    Ok(SvmReference {
        nuclear: solve(task, Norm::Nuclear, &opts)?.w,
        frobenius: solve(task, Norm::Frobenius, &opts)?.w,
    })
}

/// The reference for a run of `cfg`: `Some` with fixed attention (where the programs describe the
/// limit of training), `None` with trainable attention (the cosines are then null).
pub fn reference_for(cfg: &Config) -> Result<Option<SvmReference>> {
    match cfg.model.attention {
        Attention::Fixed => Ok(Some(reference(&Task::new(&cfg.task, cfg.train.seed))?)),
        Attention::Trainable => Ok(None),
    }
}
