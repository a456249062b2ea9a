//! The textbook route, for cross-checks on small tasks: the nuclear-norm program as an SDP solved
//! by Clarabel's interior-point method (feature `sdp`, system OpenBLAS).
//!
//! ‖W‖_* = min ½(tr P + tr Q) over [[P, W], [Wᵀ, Q]] ⪰ 0, so the program is
//! min ½ tr M s.t. M ⪰ 0, ⟨H_k, M₁₂⟩ ≥ 1 with M of size (rows + cols). Its size grows as
//! (rows + cols)², which is why the reduced and ADMM solvers exist: at the paper size this takes
//! minutes and gigabytes.

use super::conic::{Conic, Expr};
use super::constraints::Constraints;
use super::RawSolution;
use crate::error::{Error, Result};
use faer::Mat;

/// Solves min ‖W‖_* s.t. the constraints of `cons` as an SDP.
pub fn solve(cons: &Constraints, tol: f64) -> Result<RawSolution> {
    let (nr, nc) = (cons.rows, cons.cols);
    let dim = nr + nc;
    let idx = |i: usize, j: usize| {
        let (i, j) = if i <= j { (i, j) } else { (j, i) };
        j * (j + 1) / 2 + i
    };
    let n_vars = dim * (dim + 1) / 2;
    let w_var = |a: usize, z: usize| idx(a, nr + z);
    let mut prob = Conic::new(n_vars);
    for i in 0..dim {
        prob.q[idx(i, i)] = 0.5;
    }
    for e in &cons.examples {
        for a in (0..nr).filter(|&a| a != e.target) {
            let mut ex: Expr = Vec::with_capacity(4);
            for c in [e.s, e.r] {
                ex.push((w_var(e.target, c), 1.0));
                ex.push((w_var(a, c), -1.0));
            }
            prob.geq(&ex, 1.0);
        }
    }
    let n_lin = prob.n_rows();
    prob.psd(dim, (0..n_vars).map(|v| vec![(v, 1.0)]).collect());
    let sol = prob.solve(tol.max(1e-10), 400)?;
    if !sol.solved {
        return Err(Error::Solver(format!(
            "SDP: clarabel status {}",
            sol.status
        )));
    }
    let w = Mat::from_fn(nr, nc, |a, z| sol.x[w_var(a, z)]);
    let mut lam = vec![0.0; cons.lam_len()];
    let mut k = 0;
    for (p, e) in cons.examples.iter().enumerate() {
        for a in (0..nr).filter(|&a| a != e.target) {
            lam[p * nr + a] = sol.z[k].max(0.0);
            k += 1;
        }
    }
    debug_assert_eq!(k, n_lin);
    Ok(RawSolution {
        w,
        lam,
        iterations: sol.iterations,
        converged: true,
        detail: format!(
            "SDP of size {dim} with {n_lin} constraints, clarabel {}",
            sol.status
        ),
    })
}
