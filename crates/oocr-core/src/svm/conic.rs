//! A small builder over Clarabel's interior-point conic solver (pure Rust for LP/QP/SOCP; the PSD
//! cone needs the `sdp` feature).
//!
//! Clarabel solves min ½xᵀPx + qᵀx s.t. b − Ax ∈ K. Rows are added as sparse coefficient lists.

use crate::error::{Error, Result};
use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, SolverStatus, SupportedConeT,
};

/// A sparse affine expression Σ c_i x_i.
pub type Expr = Vec<(usize, f64)>;

/// A conic program under construction.
#[derive(Debug, Default)]
pub struct Conic {
    /// Number of variables.
    pub n: usize,
    /// Linear objective q.
    pub q: Vec<f64>,
    /// Diagonal of P (½ xᵀPx), zero when empty.
    pub p_diag: Vec<f64>,
    rows: Vec<(Expr, f64)>,
    cones: Vec<SupportedConeT<f64>>,
}

/// The solver's answer.
#[derive(Debug, Clone)]
pub struct ConicSolution {
    /// Primal variables.
    pub x: Vec<f64>,
    /// Dual variables, one per row, in the order rows were added.
    pub z: Vec<f64>,
    /// Clarabel's status, e.g. `Solved`.
    pub status: String,
    /// Whether the status is `Solved` (or `AlmostSolved`).
    pub solved: bool,
    /// Interior-point iterations.
    pub iterations: usize,
}

impl Conic {
    /// A program with `n` variables and zero objective.
    pub fn new(n: usize) -> Conic {
        Conic {
            n,
            q: vec![0.0; n],
            ..Default::default()
        }
    }

    /// Adds the rows of one cone: each row is `b − a·x` (given as (a, b)).
    fn push(&mut self, cone: SupportedConeT<f64>, rows: Vec<(Expr, f64)>) {
        use SupportedConeT::NonnegativeConeT;
        match (self.cones.last_mut(), &cone) {
            (Some(NonnegativeConeT(k)), NonnegativeConeT(j)) => *k += j,
            _ => self.cones.push(cone),
        }
        self.rows.extend(rows);
    }

    /// Index of the first row of the next cone.
    pub fn n_rows(&self) -> usize {
        self.rows.len()
    }

    /// Σ c_i x_i ≥ rhs.
    pub fn geq(&mut self, e: &Expr, rhs: f64) {
        let a = e.iter().map(|&(i, c)| (i, -c)).collect();
        self.push(SupportedConeT::NonnegativeConeT(1), vec![(a, -rhs)]);
    }

    /// x_t ≥ ‖(e_1(x), …, e_k(x))‖₂.
    pub fn soc(&mut self, t: usize, exprs: &[Expr]) {
        let mut rows = vec![(vec![(t, -1.0)], 0.0)];
        for e in exprs {
            rows.push((e.iter().map(|&(i, c)| (i, -c)).collect(), 0.0));
        }
        self.push(SupportedConeT::SecondOrderConeT(exprs.len() + 1), rows);
    }

    /// The symmetric matrix with upper-triangle entries `entries[(i, j)]` (i ≤ j) is PSD.
    /// `entries` is in Clarabel's order: column by column of the upper triangle.
    #[cfg(feature = "sdp")]
    pub fn psd(&mut self, dim: usize, entries: Vec<Expr>) {
        assert_eq!(entries.len(), dim * (dim + 1) / 2);
        let mut rows = Vec::with_capacity(entries.len());
        let mut k = 0;
        for j in 0..dim {
            for i in 0..=j {
                let scale = if i == j {
                    1.0
                } else {
                    std::f64::consts::SQRT_2
                };
                rows.push((
                    entries[k].iter().map(|&(v, c)| (v, -c * scale)).collect(),
                    0.0,
                ));
                k += 1;
            }
        }
        self.push(SupportedConeT::PSDTriangleConeT(dim), rows);
    }

    /// Solves to tolerance `tol` (gap and feasibility) within `max_iter` iterations.
    pub fn solve(&self, tol: f64, max_iter: u32) -> Result<ConicSolution> {
        let m = self.rows.len();
        let (mut ii, mut jj, mut vv) = (Vec::new(), Vec::new(), Vec::new());
        for (r, (a, _)) in self.rows.iter().enumerate() {
            for &(j, c) in a {
                if c != 0.0 {
                    ii.push(r);
                    jj.push(j);
                    vv.push(c);
                }
            }
        }
        let a = CscMatrix::new_from_triplets(m, self.n, ii, jj, vv);
        let b: Vec<f64> = self.rows.iter().map(|(_, b)| *b).collect();
        let (mut pi, mut pv) = (Vec::new(), Vec::new());
        for (i, &d) in self.p_diag.iter().enumerate() {
            if d != 0.0 {
                pi.push(i);
                pv.push(d);
            }
        }
        let p = CscMatrix::new_from_triplets(self.n, self.n, pi.clone(), pi, pv);
        let builder = DefaultSettingsBuilder::default()
            .verbose(false)
            .max_iter(max_iter)
            .tol_gap_abs(tol)
            .tol_gap_rel(tol)
            .tol_feas(tol)
            .tol_ktratio(tol.sqrt().min(1e-6))
            .clone();
        #[cfg(feature = "sdp")]
        let builder = builder
            .clone()
            .direct_solve_method("faer".to_owned())
            .clone();
        let settings = builder
            .build()
            .map_err(|e| Error::Solver(format!("clarabel settings: {e}")))?;
        let mut solver = DefaultSolver::new(&p, &self.q, &a, &b, &self.cones, settings)
            .map_err(|e| Error::Solver(format!("clarabel setup: {e:?}")))?;
        solver.solve();
        let sol = &solver.solution;
        Ok(ConicSolution {
            x: sol.x.clone(),
            z: sol.z.clone(),
            status: format!("{:?}", sol.status),
            solved: matches!(
                sol.status,
                SolverStatus::Solved | SolverStatus::AlmostSolved
            ),
            iterations: sol.iterations as usize,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_socp_and_its_multiplier() {
        // min t s.t. t ≥ ‖(x, y)‖, x + y ≥ 2: optimum x = y = 1, t = √2, multiplier 1/√2.
        let mut c = Conic::new(3);
        c.q[2] = 1.0;
        c.geq(&vec![(0, 1.0), (1, 1.0)], 2.0);
        c.soc(2, &[vec![(0, 1.0)], vec![(1, 1.0)]]);
        let s = c.solve(1e-10, 100).unwrap();
        assert!(s.solved, "{}", s.status);
        assert!((s.x[2] - 2f64.sqrt()).abs() < 1e-7, "{:?}", s.x);
        assert!((s.z[0] - 0.5f64.sqrt()).abs() < 1e-7, "{:?}", s.z);
    }
}
