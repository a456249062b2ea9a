//! A general minimum-nuclear-norm max-margin solver: ADMM with singular-value thresholding.
//!
//! It assumes no symmetry, so it serves arbitrary constraint sets and cross-checks the exact
//! reduced solver. With L = W X (column p of X is x_p = e_s + e_r, so column p of L holds the logits
//! of example p) the program is
//!
//! ```text
//! min ‖Z‖_* + Σ_p ι_{C_p}(L_p)   s.t.  W = Z,  W X = L,   C_p = {l : l(a*) − l(a') ≥ 1 ∀ a' ≠ a*}
//! ```
//!
//! Each ADMM iteration is one linear solve with the fixed matrix I + X Xᵀ (factored once), one
//! thin SVD (singular-value thresholding gives Z), and a sort-based projection of every example's
//! logits onto C_p. Over-relaxation (1.6) and residual balancing of ρ speed it up. The scaled
//! multiplier of W X = L is the dual point λ; every few iterations the pair (Z, λ) is certified on
//! the full program and the loop stops once the certified relative gap is below `tol`.

use super::certificate::{certify, Certificate};
use super::constraints::Constraints;
use super::linalg;
use super::{Norm, RawSolution};
use crate::error::{Error, Result};
use faer::linalg::solvers::Solve;
use faer::{Mat, Side};

/// Over-relaxation factor.
const RELAX: f64 = 1.6;
/// Certify every this many iterations.
const CHECK_EVERY: usize = 10;

/// Projects `y` in place onto {y : y(t) − y(j) ≥ 1 for every j ≠ t}; `buf` is scratch.
pub fn project_margin(y: &mut [f64], t: usize, buf: &mut Vec<f64>) {
    let yt = y[t];
    buf.clear();
    buf.extend(
        y.iter()
            .enumerate()
            .filter(|&(j, _)| j != t)
            .map(|(_, &x)| x),
    );
    if buf.iter().all(|&x| x <= yt - 1.0) {
        return;
    }
    buf.sort_unstable_by(|a, b| b.total_cmp(a));
    // The top k entries are lowered to v and y(t) raised to v + 1, where
    // v + 1 = y(t) + Σ_{top k} (u_i − v).
    let mut sum = 0.0;
    let mut v = 0.0;
    for k in 0..buf.len() {
        sum += buf[k];
        v = (yt - 1.0 + sum) / (k as f64 + 2.0);
        if k + 1 == buf.len() || buf[k + 1] <= v {
            break;
        }
    }
    for (j, x) in y.iter_mut().enumerate() {
        if j == t {
            *x = v + 1.0;
        } else if *x > v {
            *x = v;
        }
    }
}

/// Solves min ‖W‖_* s.t. the constraints of `cons`, to certified relative gap `tol`.
pub fn solve(cons: &Constraints, tol: f64, max_iter: usize) -> Result<RawSolution> {
    let (nr, nc) = (cons.rows, cons.cols);
    let ex = &cons.examples;
    let mut g = Mat::<f64>::identity(nc, nc);
    for e in ex {
        for a in [e.s, e.r] {
            for b in [e.s, e.r] {
                g[(a, b)] += 1.0;
            }
        }
    }
    let llt = g
        .llt(Side::Lower)
        .map_err(|e| Error::Solver(format!("ADMM: factoring I + XXᵀ failed: {e:?}")))?;
    // Everything is stored transposed (context × answers), the layout the solve wants.
    let mut wt = Mat::<f64>::zeros(nc, nr);
    let mut zt = Mat::<f64>::zeros(nc, nr);
    let mut ut = Mat::<f64>::zeros(nc, nr);
    let mut l = vec![0.0; cons.lam_len()];
    let mut v = vec![0.0; cons.lam_len()];
    let mut l_old = vec![0.0; cons.lam_len()];
    let mut buf = Vec::new();
    let mut rho = 1.0;
    let mut z_norm = 0.0;
    let mut best: Option<(Certificate, Mat<f64>, Vec<f64>)> = None;
    let mut iterations = 0;
    let mut converged = false;
    for it in 1..=max_iter {
        iterations = it;
        // W-update: W (I + XXᵀ) = (Z − U) + (L − V) Xᵀ.
        let mut rhs = &zt - &ut;
        for (p, e) in ex.iter().enumerate() {
            for a in 0..nr {
                let x = l[p * nr + a] - v[p * nr + a];
                rhs[(e.s, a)] += x;
                rhs[(e.r, a)] += x;
            }
        }
        llt.solve_in_place(rhs.as_mut());
        wt = rhs;
        // Z-update: singular-value thresholding of the relaxed W + U at 1/ρ.
        let zt_old = zt.clone();
        let wh = Mat::from_fn(nc, nr, |i, j| {
            RELAX * wt[(i, j)] + (1.0 - RELAX) * zt_old[(i, j)]
        });
        let (u, s, vv) = linalg::thin_svd((&wh + &ut).as_ref())?;
        let thr = 1.0 / rho;
        let keep = s.iter().take_while(|&&x| x > thr).count();
        zt = Mat::zeros(nc, nr);
        z_norm = 0.0;
        for k in 0..keep {
            let sk = s[k] - thr;
            z_norm += sk;
            for j in 0..nr {
                let c = sk * vv[(j, k)];
                for i in 0..nc {
                    zt[(i, j)] += u[(i, k)] * c;
                }
            }
        }
        ut += &wh - &zt;
        // L-update: projection of the relaxed logits W X + V onto the margin sets.
        l_old.copy_from_slice(&l);
        let mut r_prim2 = 0.0;
        for (p, e) in ex.iter().enumerate() {
            let lp = &mut l[p * nr..(p + 1) * nr];
            let vp = &mut v[p * nr..(p + 1) * nr];
            let lop = &l_old[p * nr..(p + 1) * nr];
            for a in 0..nr {
                let wx = wt[(e.s, a)] + wt[(e.r, a)];
                r_prim2 += (wx - lop[a]).powi(2);
                lp[a] = RELAX * wx + (1.0 - RELAX) * lop[a] + vp[a];
            }
            let y: Vec<f64> = lp.to_vec();
            project_margin(lp, e.target, &mut buf);
            for a in 0..nr {
                vp[a] = y[a] - lp[a];
            }
        }
        // Residuals and ρ balancing (Boyd et al. 2011, §3.4.1).
        if it % CHECK_EVERY == 0 {
            for i in 0..nc {
                for j in 0..nr {
                    r_prim2 += (wt[(i, j)] - zt[(i, j)]).powi(2);
                }
            }
            let mut dual = &zt - &zt_old;
            for (p, e) in ex.iter().enumerate() {
                for a in 0..nr {
                    let d = l[p * nr + a] - l_old[p * nr + a];
                    dual[(e.s, a)] += d;
                    dual[(e.r, a)] += d;
                }
            }
            let r_dual = rho * linalg::frobenius_norm(dual.as_ref());
            let r_prim = r_prim2.sqrt();
            let scale = if r_prim > 10.0 * r_dual {
                2.0
            } else if r_dual > 10.0 * r_prim {
                0.5
            } else {
                1.0
            };
            // Certify the current pair: Z (whose nuclear norm is known) and λ = ρ V.
            let lam: Vec<f64> = v.iter().map(|x| (rho * x).max(0.0)).collect();
            let z = zt.transpose().to_owned();
            let cert = certify(Norm::Nuclear, cons, z.as_ref(), Some(z_norm), &lam)?;
            let better = best
                .as_ref()
                .is_none_or(|(b, _, _)| cert.rel_gap < b.rel_gap);
            if better && cert.primal.is_finite() {
                best = Some((cert, z, lam));
            }
            if best.as_ref().is_some_and(|(b, _, _)| b.rel_gap <= tol) {
                converged = true;
                break;
            }
            if scale != 1.0 {
                rho *= scale;
                ut *= faer::Scale(1.0 / scale);
                v.iter_mut().for_each(|x| *x /= scale);
            }
        }
    }
    let _ = z_norm;
    let (cert, w, lam) = match best {
        Some(b) => b,
        None => {
            let w = wt.transpose().to_owned();
            let lam: Vec<f64> = v.iter().map(|x| (rho * x).max(0.0)).collect();
            let c = certify(Norm::Nuclear, cons, w.as_ref(), None, &lam)?;
            (c, w, lam)
        }
    };
    Ok(RawSolution {
        w,
        lam,
        iterations,
        converged,
        detail: format!(
            "ADMM on {}x{} with {} constraints, final rho {rho:.3e}, certified rel gap {:.2e}",
            nr,
            nc,
            cons.len(),
            cert.rel_gap
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projection_satisfies_kkt() {
        let mut buf = Vec::new();
        for (y0, t) in [
            (vec![0.0, 0.0, 0.0, 0.0], 0),
            (vec![1.0, 3.0, -2.0, 2.5], 2),
            (vec![5.0, 0.0, 1.0], 0),
            (vec![0.3, 0.9, 0.8, 0.7, -4.0], 4),
        ] {
            let mut y = y0.clone();
            project_margin(&mut y, t, &mut buf);
            // Feasible.
            for j in (0..y.len()).filter(|&j| j != t) {
                assert!(y[t] - y[j] >= 1.0 - 1e-12);
            }
            // KKT: y0 − y = Σ μ_j (e_j − e_t)·(−1) with μ_j = y0_j − y_j ≥ 0 on active j only.
            let mut mu_sum = 0.0;
            for j in (0..y.len()).filter(|&j| j != t) {
                let mu = y0[j] - y[j];
                assert!(mu >= -1e-12);
                if mu > 1e-12 {
                    assert!((y[t] - y[j] - 1.0).abs() < 1e-12);
                }
                mu_sum += mu;
            }
            assert!((y[t] - y0[t] - mu_sum).abs() < 1e-12);
        }
    }
}
