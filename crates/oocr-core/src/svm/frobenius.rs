//! A general minimum-Frobenius-norm max-margin solver: dual coordinate ascent (Hildreth's method).
//!
//! The dual of min ½‖W‖_F² s.t. ⟨H_k, W⟩ ≥ 1 is max Σλ_k − ½‖Σλ_k H_k‖_F² over λ ≥ 0, with
//! W = Σλ_k H_k. Maximizing exactly over one λ_k at a time is
//! λ_k ← max(0, λ_k + (1 − ⟨H_k, W⟩)/‖H_k‖_F²) followed by a 4-entry update of W, so a sweep over
//! all constraints costs O(#constraints). The pair (W, λ) is certified after every sweep (no SVD
//! needed for the Frobenius norm) and the loop stops at certified relative gap `tol`.

use super::certificate::certify;
use super::constraints::Constraints;
use super::{Norm, RawSolution};
use crate::error::Result;
use faer::Mat;

/// Solves min ‖W‖_F s.t. the constraints of `cons`, to certified relative gap `tol`.
pub fn solve(cons: &Constraints, tol: f64, max_sweeps: usize) -> Result<RawSolution> {
    let nr = cons.rows;
    let mut w = Mat::<f64>::zeros(nr, cons.cols);
    let mut lam = vec![0.0; cons.lam_len()];
    let mut sweeps = 0;
    let mut converged = false;
    let mut gap = f64::INFINITY;
    for sweep in 1..=max_sweeps {
        sweeps = sweep;
        for (p, e) in cons.examples.iter().enumerate() {
            let xx = if e.s == e.r { 4.0 } else { 2.0 };
            let h2 = 2.0 * xx;
            for a in (0..nr).filter(|&a| a != e.target) {
                let m = Constraints::logit(w.as_ref(), e, e.target)
                    - Constraints::logit(w.as_ref(), e, a);
                let l = &mut lam[p * nr + a];
                let delta = ((1.0 - m) / h2).max(-*l);
                if delta != 0.0 {
                    *l += delta;
                    w[(e.target, e.s)] += delta;
                    w[(e.target, e.r)] += delta;
                    w[(a, e.s)] -= delta;
                    w[(a, e.r)] -= delta;
                }
            }
        }
        let cert = certify(Norm::Frobenius, cons, w.as_ref(), None, &lam)?;
        gap = cert.rel_gap;
        if gap <= tol {
            converged = true;
            break;
        }
    }
    Ok(RawSolution {
        w,
        lam,
        iterations: sweeps,
        converged,
        detail: format!(
            "dual coordinate ascent, {} constraints, {sweeps} sweeps, certified rel gap {gap:.2e}",
            cons.len()
        ),
    })
}
