//! Optimality certificate of min ‖W‖ s.t. ⟨H_k, W⟩ ≥ 1: a duality gap between scaled feasible points.
//!
//! Weak duality: for any W with min_k ⟨H_k, W⟩ = m > 0 and any λ ≥ 0 with Y = Σ λ_k H_k ≠ 0,
//!
//! ```text
//! ‖W‖ / m   ≥   OPT   ≥   Σ λ_k / ‖Y‖°
//! ```
//!
//! (‖·‖° the dual norm: spectral for the nuclear norm, Frobenius for Frobenius), because W/m is
//! feasible and λ/‖Y‖° is feasible for the dual max Σ λ_k s.t. ‖Σ λ_k H_k‖° ≤ 1, λ ≥ 0. Both points
//! are made feasible by scaling, so the certificate holds on the full problem whatever solver
//! produced (W, λ): the optimum lies in [dual, primal].

use super::constraints::Constraints;
use super::linalg;
use super::Norm;
use crate::error::{Error, Result};
use faer::MatRef;
use serde::Serialize;

/// A duality-gap certificate, evaluated on the full program.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Certificate {
    /// Always `"duality_gap"`.
    pub kind: &'static str,
    /// Upper bound on the optimum: ‖W‖ / min-margin of the primal candidate.
    pub primal: f64,
    /// Lower bound on the optimum: Σλ / ‖Σλ H‖° of the dual candidate.
    pub dual: f64,
    /// primal − dual (≥ 0 up to rounding).
    pub gap: f64,
    /// gap / primal: the certified relative error of `primal` as the optimum.
    pub rel_gap: f64,
    /// min-margin of the unscaled primal candidate (1 at an exact solution).
    pub raw_min_margin: f64,
    /// ‖Σλ H‖° of the unscaled dual candidate (1 at an exact solution).
    pub raw_dual_norm: f64,
}

/// The norm of `w`.
pub fn norm_of(norm: Norm, w: MatRef<'_, f64>) -> Result<f64> {
    match norm {
        Norm::Nuclear => linalg::nuclear_norm(w),
        Norm::Frobenius => Ok(linalg::frobenius_norm(w)),
    }
}

/// The dual norm of `y`.
pub fn dual_norm_of(norm: Norm, y: MatRef<'_, f64>) -> Result<f64> {
    match norm {
        Norm::Nuclear => linalg::spectral_norm(y),
        Norm::Frobenius => Ok(linalg::frobenius_norm(y)),
    }
}

/// Certifies the pair (`w`, `lam`) on `cons`; `w_norm` may pass a known ‖w‖ to skip recomputing it.
pub fn certify(
    norm: Norm,
    cons: &Constraints,
    w: MatRef<'_, f64>,
    w_norm: Option<f64>,
    lam: &[f64],
) -> Result<Certificate> {
    if cons.is_empty() {
        return Err(Error::Solver(
            "the program has no constraint (empty D_train or a single answer)".into(),
        ));
    }
    let m = cons.min_margin(w);
    let wn = match w_norm {
        Some(x) => x,
        None => norm_of(norm, w)?,
    };
    let primal = if m > 0.0 { wn / m } else { f64::INFINITY };
    let lam_pos: Vec<f64> = lam.iter().map(|x| x.max(0.0)).collect();
    let y = cons.adjoint(&lam_pos);
    let yn = dual_norm_of(norm, y.as_ref())?;
    let dual = if yn > 0.0 {
        cons.lam_sum(&lam_pos) / yn
    } else {
        0.0
    };
    let gap = primal - dual;
    Ok(Certificate {
        kind: "duality_gap",
        primal,
        dual,
        gap,
        rel_gap: gap / primal.max(f64::MIN_POSITIVE),
        raw_min_margin: m,
        raw_dual_norm: yn,
    })
}
