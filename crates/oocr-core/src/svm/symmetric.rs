//! Exact solve of both programs through the symmetry of the task: a tiny SOCP.
//!
//! **The symmetry.** Permuting the pairs (b_i, c_i and group i's subjects together), and permuting
//! the training subjects of one group among themselves (likewise its test subjects), maps D_train
//! onto itself and preserves both norms. Both programs are convex, so averaging an optimum over
//! this group gives an optimum that is invariant; and replacing W by (I − 11ᵀ/2n) W (centring every
//! column over the answers) changes no margin and does not increase either norm. So an optimum
//! exists in the invariant, column-centred matrices, which have at most 8 parameters:
//!
//! ```text
//! W(x_i, s) = ±T_y/n + D_xy · (n−1)/n   if s is in group i,    x ∈ {b, c}, y = type of s
//!           = ±T_y/n − D_xy / n         otherwise              (train / test subject)
//! W(b_i, r) = R_r,  W(c_i, r) = −R_r                           (+ for b rows, − for c rows)
//! ```
//!
//! **The norms, block-diagonalized.** An invariant W maps each isotypic component of the column
//! space to the same component of the row space (Schur). On the (n−1)-dimensional standard
//! representation of the pair permutations it acts as the 2 × |Y| matrix
//! M(x, y) = √m_y · D_xy, repeated n−1 times; on the trivial representation as the rank-one
//! [p; −p]/… with p = (√m_y · T_y, √n · R_1, √n · R_2), of single singular value √2‖p‖; it is zero
//! on everything else. Hence
//!
//! ```text
//! ‖W‖_* = (n−1)·‖M‖_* + √2·‖p‖₂          ‖W‖_F² = (n−1)·‖M‖_F² + 2‖p‖₂²
//! ```
//!
//! and for a 2 × 2 M = [[a, b], [c, d]], ‖M‖_* = max(‖(a+d, b−c)‖₂, ‖(a−d, b+c)‖₂) — two second-order
//! cones. The margin constraints become a handful of distinct linear inequalities in the
//! parameters (computed here by evaluating every full constraint on the basis matrices, so no
//! hand-derived algebra is trusted). Clarabel solves the resulting SOCP to 1e-10 in a few dozen
//! iterations; its multipliers, spread evenly over each orbit of constraints, give the full dual
//! point that the caller certifies on the full problem.

use super::conic::{Conic, Expr};
use super::constraints::Constraints;
use super::{Norm, RawSolution};
use crate::error::{Error, Result};
use crate::task::Task;
use faer::Mat;
use std::collections::HashMap;

/// The invariant, column-centred parameterization of W for one task.
#[derive(Debug, Clone)]
pub struct Reduction {
    n: usize,
    m: [usize; 2],
    /// Index of D_xy (x: 0 = facts b, 1 = implications c; y: 0 = train, 1 = test subjects).
    d: [[Option<usize>; 2]; 2],
    /// Index of T_y.
    t: [Option<usize>; 2],
    /// Index of R_r1, R_r2.
    r: [usize; 2],
    /// Number of parameters.
    pub n_params: usize,
}

impl Reduction {
    /// The parameterization for `task`'s sizes.
    pub fn new(task: &Task) -> Reduction {
        let n = task.cfg.n;
        let m = [task.cfg.m_train, task.cfg.m_test];
        let mut k = 0;
        let mut next = || {
            k += 1;
            Some(k - 1)
        };
        let mut d = [[None; 2]; 2];
        if n >= 2 {
            for row in d.iter_mut() {
                for (y, slot) in row.iter_mut().enumerate() {
                    if m[y] > 0 {
                        *slot = next();
                    }
                }
            }
        }
        let mut t = [None; 2];
        for (y, slot) in t.iter_mut().enumerate() {
            if m[y] > 0 {
                *slot = next();
            }
        }
        let r = [next().unwrap(), next().unwrap()];
        Reduction {
            n,
            m,
            d,
            t,
            r,
            n_params: k,
        }
    }

    /// The full answers × context matrix of parameters `theta`.
    pub fn expand(&self, task: &Task, theta: &[f64]) -> Mat<f64> {
        let n = self.n;
        let nf = n as f64;
        let cols = task.r2() + 1;
        let mut w = Mat::zeros(2 * n, cols);
        for s in task.subjects() {
            let (k, j) = task.subject_pair(s);
            let y = usize::from(j >= self.m[0]);
            for x in 0..2 {
                let sign = if x == 0 { 1.0 } else { -1.0 };
                for i in 0..n {
                    let mut v = 0.0;
                    if let Some(ti) = self.t[y] {
                        v += sign * theta[ti] / nf;
                    }
                    if let Some(di) = self.d[x][y] {
                        v += theta[di] * if i == k { (nf - 1.0) / nf } else { -1.0 / nf };
                    }
                    w[(x * n + i, s)] = v;
                }
            }
        }
        for (ri, &pi) in self.r.iter().enumerate() {
            let c = task.r1() + ri;
            for i in 0..n {
                w[(i, c)] = theta[pi];
                w[(n + i, c)] = -theta[pi];
            }
        }
        w
    }

    /// Entries of the standard-block matrix M(x, y) = √m_y·D_xy, as expressions (present y only).
    fn std_block(&self) -> Vec<Vec<Expr>> {
        (0..2)
            .map(|x| {
                (0..2)
                    .filter_map(|y| self.d[x][y].map(|i| vec![(i, (self.m[y] as f64).sqrt())]))
                    .collect()
            })
            .collect()
    }

    /// The trivial-block vector p = (√m_y·T_y, √n·R_1, √n·R_2), as expressions.
    fn p_vector(&self) -> Vec<Expr> {
        let mut p: Vec<Expr> = (0..2)
            .filter_map(|y| self.t[y].map(|i| vec![(i, (self.m[y] as f64).sqrt())]))
            .collect();
        for &i in &self.r {
            p.push(vec![(i, (self.n as f64).sqrt())]);
        }
        p
    }

    /// ‖expand(theta)‖ from the block formula (for tests and diagnostics).
    pub fn norm(&self, norm: Norm, theta: &[f64]) -> f64 {
        let eval = |e: &Expr| e.iter().map(|&(i, c)| c * theta[i]).sum::<f64>();
        let m: Vec<Vec<f64>> = self
            .std_block()
            .iter()
            .map(|r| r.iter().map(eval).collect())
            .collect();
        let p2: f64 = self.p_vector().iter().map(|e| eval(e).powi(2)).sum();
        let nm1 = self.n as f64 - 1.0;
        match norm {
            Norm::Frobenius => {
                let mf2: f64 = m.iter().flatten().map(|x| x * x).sum();
                (nm1 * mf2 + 2.0 * p2).sqrt()
            }
            Norm::Nuclear => {
                let mn = match m[0].len() {
                    0 => 0.0,
                    1 => (m[0][0].powi(2) + m[1][0].powi(2)).sqrt(),
                    _ => {
                        let (a, b, c, d) = (m[0][0], m[0][1], m[1][0], m[1][1]);
                        (a + d).hypot(b - c).max((a - d).hypot(b + c))
                    }
                };
                nm1 * mn + 2f64.sqrt() * p2.sqrt()
            }
        }
    }
}

/// Linear combination of expressions.
fn lin(terms: &[(&Expr, f64)]) -> Expr {
    let mut out: Expr = Vec::new();
    for (e, s) in terms {
        out.extend(e.iter().map(|&(i, c)| (i, c * s)));
    }
    out
}

/// The reduced program: min qᵀx s.t. G x ≥ 1 (on the parameters) and x_t ≥ ‖E x‖₂ for each cone.
struct Reduced {
    n_vars: usize,
    q: Vec<f64>,
    rows: Vec<Vec<f64>>,
    socs: Vec<(usize, Vec<Expr>)>,
}

impl Reduced {
    fn conic(&self) -> Conic {
        let mut prob = Conic::new(self.n_vars);
        prob.q.clone_from(&self.q);
        for r in &self.rows {
            let e: Expr = r
                .iter()
                .enumerate()
                .filter(|(_, &c)| c != 0.0)
                .map(|(i, &c)| (i, c))
                .collect();
            prob.geq(&e, 1.0);
        }
        for (t, es) in &self.socs {
            prob.soc(*t, es);
        }
        prob
    }

    /// Newton polish on the active set found by the interior-point method: the active constraints
    /// become equalities (G_i x = 1, x_t = ‖E x‖, or E x = 0 and x_t = 0 at a cone's apex) and
    /// Newton's method on the KKT system of this smooth equality-constrained program converges
    /// quadratically from the interior-point point. Interior-point solutions are accurate to about
    /// the square root of their gap in the flat directions of the objective, which is 1e-5 on a
    /// test margin; the polish brings it to rounding level. Returns (x, multipliers of the rows)
    /// only when the polished point is feasible, its multipliers have the right signs and it is
    /// no worse than the start (beyond the start's own inaccuracy).
    fn polish(&self, x0: &[f64]) -> std::result::Result<(Vec<f64>, Vec<f64>), String> {
        const ACTIVE: f64 = 1e-6;
        let nv = self.n_vars;
        let dot = |r: &[f64], x: &[f64]| r.iter().zip(x).map(|(a, b)| a * b).sum::<f64>();
        let eval = |e: &Expr, x: &[f64]| e.iter().map(|&(i, c)| c * x[i]).sum::<f64>();
        let dense = |e: &Expr| {
            let mut v = vec![0.0; nv];
            for &(i, c) in e {
                v[i] += c;
            }
            v
        };
        let lin_active: Vec<usize> = (0..self.rows.len())
            .filter(|&i| dot(&self.rows[i], x0) - 1.0 < ACTIVE)
            .collect();
        // Equalities: linear rows (coef, rhs) and smooth cones (t, E as dense rows).
        let mut lin: Vec<(Vec<f64>, f64)> = lin_active
            .iter()
            .map(|&i| (self.rows[i].clone(), 1.0))
            .collect();
        let mut smooth: Vec<(usize, Vec<Vec<f64>>)> = Vec::new();
        for (t, es) in &self.socs {
            let nrm = es.iter().map(|e| eval(e, x0).powi(2)).sum::<f64>().sqrt();
            if x0[*t] - nrm > ACTIVE * (1.0 + x0[*t]) {
                continue;
            }
            if nrm < ACTIVE {
                let mut et = vec![0.0; nv];
                et[*t] = 1.0;
                lin.push((et, 0.0));
                lin.extend(es.iter().map(|e| (dense(e), 0.0)));
            } else {
                smooth.push((*t, es.iter().map(dense).collect()));
            }
        }
        let (nl, ns) = (lin.len(), smooth.len());
        let ne = nl + ns;
        let mut x = x0.to_vec();
        let mut y = vec![0.0; ne];
        let grad_hess = |x: &[f64], e: &[Vec<f64>]| {
            let ex: Vec<f64> = e.iter().map(|r| dot(r, x)).collect();
            let nrm = ex.iter().map(|v| v * v).sum::<f64>().sqrt();
            let mut g = vec![0.0; nv];
            for (r, v) in e.iter().zip(&ex) {
                for (gi, ri) in g.iter_mut().zip(r) {
                    *gi += ri * v / nrm;
                }
            }
            let mut h = Mat::<f64>::zeros(nv, nv);
            for r in e {
                for i in 0..nv {
                    for j in 0..nv {
                        h[(i, j)] += r[i] * r[j] / nrm;
                    }
                }
            }
            for i in 0..nv {
                for j in 0..nv {
                    h[(i, j)] -= g[i] * g[j] / nrm;
                }
            }
            (nrm, g, h)
        };
        let kkt_resid = |x: &[f64], y: &[f64]| -> (Vec<f64>, Mat<f64>, Mat<f64>) {
            // Residual F = [c + Jᵀy; h(x)], Jacobian J, Lagrangian Hessian H.
            let mut jac = Mat::<f64>::zeros(ne, nv);
            let mut hl = Mat::<f64>::zeros(nv, nv);
            let mut f = vec![0.0; nv + ne];
            for (k, (r, b)) in lin.iter().enumerate() {
                for i in 0..nv {
                    jac[(k, i)] = r[i];
                }
                f[nv + k] = dot(r, x) - b;
            }
            for (k, (t, e)) in smooth.iter().enumerate() {
                let (nrm, g, h) = grad_hess(x, e);
                for i in 0..nv {
                    jac[(nl + k, i)] = g[i];
                }
                jac[(nl + k, *t)] -= 1.0;
                f[nv + nl + k] = nrm - x[*t];
                hl += &h * faer::Scale(y[nl + k]);
            }
            for i in 0..nv {
                f[i] = self.q[i] + (0..ne).map(|k| jac[(k, i)] * y[k]).sum::<f64>();
            }
            (f, jac, hl)
        };
        let pinv_solve = |a: &Mat<f64>, b: &[f64]| -> Option<Vec<f64>> {
            let (u, s, v) = super::linalg::thin_svd(a.as_ref()).ok()?;
            let cut = s.first().copied().unwrap_or(0.0) * 1e-12;
            let mut out = vec![0.0; a.ncols()];
            for k in 0..s.len() {
                if s[k] <= cut {
                    break;
                }
                let c: f64 = (0..a.nrows()).map(|i| u[(i, k)] * b[i]).sum::<f64>() / s[k];
                for (j, o) in out.iter_mut().enumerate() {
                    *o += c * v[(j, k)];
                }
            }
            Some(out)
        };
        // Multipliers from least squares Jᵀy = −c at x0.
        {
            let (_, jac, _) = kkt_resid(&x, &y);
            let jt = jac.transpose().to_owned();
            let rhs: Vec<f64> = self.q.iter().map(|c| -c).collect();
            y = pinv_solve(&jt, &rhs).ok_or("SVD failed")?;
        }
        for _ in 0..30 {
            let (f, jac, hl) = kkt_resid(&x, &y);
            let norm_f = f.iter().map(|v| v * v).sum::<f64>().sqrt();
            if norm_f < 1e-14 {
                break;
            }
            let dim = nv + ne;
            let mut k = Mat::<f64>::zeros(dim, dim);
            for i in 0..nv {
                for j in 0..nv {
                    k[(i, j)] = hl[(i, j)];
                }
            }
            for e in 0..ne {
                for i in 0..nv {
                    k[(nv + e, i)] = jac[(e, i)];
                    k[(i, nv + e)] = jac[(e, i)];
                }
            }
            let rhs: Vec<f64> = f.iter().map(|v| -v).collect();
            let d = pinv_solve(&k, &rhs).ok_or("SVD failed")?;
            for i in 0..nv {
                x[i] += d[i];
            }
            for e in 0..ne {
                y[e] += d[nv + e];
            }
        }
        // Verify: feasibility, multiplier signs (y ≤ 0 on G x ≥ 1 rows, y ≥ 0 on cones), residual.
        let (f, _, _) = kkt_resid(&x, &y);
        let scale = 1.0 + self.q.iter().map(|v| v.abs()).sum::<f64>();
        let ok_kkt = f.iter().all(|v| v.abs() < 1e-9 * scale);
        let ok_rows = self.rows.iter().all(|r| dot(r, &x) >= 1.0 - 1e-12);
        let ok_cones = self.socs.iter().all(|(t, es)| {
            let nrm = es.iter().map(|e| eval(e, &x).powi(2)).sum::<f64>().sqrt();
            x[*t] >= nrm - 1e-12 * (1.0 + nrm)
        });
        let ok_signs =
            (0..lin_active.len()).all(|k| y[k] <= 1e-9) && (nl..ne).all(|k| y[k] >= -1e-9);
        // A KKT point of the convex program is optimal; guard only against a distant jump.
        let obj0 = dot(&self.q, x0);
        let better = dot(&self.q, &x) <= obj0 + 1e-6 * (1.0 + obj0.abs());
        if !(ok_kkt && ok_rows && ok_cones && ok_signs && better) {
            return Err(format!(
                "rejected (kkt {ok_kkt}, feasible {}, signs {ok_signs}, objective {better})",
                ok_rows && ok_cones
            ));
        }
        let mut mu = vec![0.0; self.rows.len()];
        for (k, &i) in lin_active.iter().enumerate() {
            mu[i] = (-y[k]).max(0.0);
        }
        Ok((x, mu))
    }
}

/// Solves the program on `task` exactly through the reduction; returns W and a full dual point.
pub fn solve(task: &Task, norm: Norm, tol: f64) -> Result<RawSolution> {
    let red = Reduction::new(task);
    let cons = Constraints::train(task);
    let k = red.n_params;
    // Coefficients of every full constraint in the parameters: margins of the basis matrices.
    let mut coef = vec![vec![0.0; k]; cons.lam_len()];
    let mut margins = vec![0.0; cons.lam_len()];
    for i in 0..k {
        let mut e = vec![0.0; k];
        e[i] = 1.0;
        cons.margins_into(red.expand(task, &e).as_ref(), &mut margins);
        for (c, &m) in coef.iter_mut().zip(&margins) {
            c[i] = m;
        }
    }
    // Distinct constraint rows (one per orbit, or several orbits sharing a row).
    let mut row_of = vec![usize::MAX; cons.lam_len()];
    let mut rows: Vec<Vec<f64>> = Vec::new();
    let mut count: Vec<usize> = Vec::new();
    let mut index: HashMap<Vec<i64>, usize> = HashMap::new();
    for (kk, c) in coef.iter().enumerate() {
        if c.iter().any(|x| !x.is_finite()) {
            continue; // the target entry of an example
        }
        let key: Vec<i64> = c.iter().map(|x| (x * 1e9).round() as i64).collect();
        let id = *index.entry(key).or_insert_with(|| {
            rows.push(c.clone());
            count.push(0);
            rows.len() - 1
        });
        count[id] += 1;
        row_of[kk] = id;
    }
    // The SOCP: parameters, then epigraph variables.
    let nm1 = task.cfg.n as f64 - 1.0;
    let std = red.std_block();
    let p = red.p_vector();
    let (ta, tp) = (k, k + 1);
    let n_vars = match norm {
        Norm::Nuclear => k + 2,
        Norm::Frobenius => k + 1,
    };
    let mut q = vec![0.0; n_vars];
    let mut socs = Vec::new();
    match norm {
        Norm::Nuclear => {
            q[ta] = nm1;
            q[tp] = 2f64.sqrt();
            match std[0].len() {
                0 => q[ta] = 0.0,
                1 => socs.push((ta, vec![std[0][0].clone(), std[1][0].clone()])),
                _ => {
                    let (a, b, c, d) = (&std[0][0], &std[0][1], &std[1][0], &std[1][1]);
                    socs.push((
                        ta,
                        vec![lin(&[(a, 1.0), (d, 1.0)]), lin(&[(b, 1.0), (c, -1.0)])],
                    ));
                    socs.push((
                        ta,
                        vec![lin(&[(a, 1.0), (d, -1.0)]), lin(&[(b, 1.0), (c, 1.0)])],
                    ));
                }
            }
            socs.push((tp, p));
        }
        Norm::Frobenius => {
            q[ta] = 1.0;
            let mut all: Vec<Expr> = std
                .iter()
                .flatten()
                .map(|e| lin(&[(e, nm1.sqrt())]))
                .collect();
            all.extend(p.iter().map(|e| lin(&[(e, 2f64.sqrt())])));
            socs.push((ta, all));
        }
    }
    let rows_n: Vec<Vec<f64>> = rows
        .iter()
        .map(|r| {
            let mut v = r.clone();
            v.resize(n_vars, 0.0);
            v
        })
        .collect();
    let prob = Reduced {
        n_vars,
        q,
        rows: rows_n,
        socs,
    };
    let mut conic = prob.conic();
    if std[0].is_empty() && norm == Norm::Nuclear {
        // n = 1: no standard block; pin the unused epigraph variable at 0.
        conic.geq(&vec![(ta, -1.0)], 0.0);
        conic.geq(&vec![(ta, 1.0)], 0.0);
    }
    let sol = conic.solve(tol, 200)?;
    if !sol.solved {
        return Err(Error::Solver(format!(
            "reduced SOCP: clarabel status {}",
            sol.status
        )));
    }
    let (x, mu, polished) = match prob.polish(&sol.x) {
        Ok((x, mu)) => (x, mu, "applied".to_string()),
        Err(why) => (sol.x.clone(), sol.z[..rows.len()].to_vec(), why),
    };
    let w = red.expand(task, &x[..k]);
    let mut lam = vec![0.0; cons.lam_len()];
    for (kk, &id) in row_of.iter().enumerate() {
        if id != usize::MAX {
            lam[kk] = mu[id].max(0.0) / count[id] as f64;
        }
    }
    Ok(RawSolution {
        w,
        lam,
        iterations: sol.iterations,
        converged: true,
        detail: format!(
            "{} parameters, {} distinct constraints (of {}), clarabel {}, Newton polish {}",
            k,
            rows.len(),
            cons.len(),
            sol.status,
            polished
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TaskConfig;
    use crate::svm::linalg;

    #[test]
    fn block_formula_matches_the_full_norms() {
        for (n, mtr, mte) in [
            (4, 1, 3),
            (3, 2, 2),
            (5, 3, 1),
            (1, 2, 1),
            (4, 0, 2),
            (3, 2, 0),
        ] {
            let cfg = TaskConfig {
                n,
                m_train: mtr,
                m_test: mte,
                ..TaskConfig::default()
            };
            let task = Task::new(&cfg, 0);
            let red = Reduction::new(&task);
            let theta: Vec<f64> = (0..red.n_params)
                .map(|i| ((i * 37 + 11) % 17) as f64 / 4.0 - 2.0)
                .collect();
            let w = red.expand(&task, &theta);
            let nuc = linalg::nuclear_norm(w.as_ref()).unwrap();
            let fro = linalg::frobenius_norm(w.as_ref());
            let tol = 1e-10 * (1.0 + nuc);
            assert!(
                (nuc - red.norm(Norm::Nuclear, &theta)).abs() < tol,
                "n={n} {mtr} {mte}: {nuc} vs {}",
                red.norm(Norm::Nuclear, &theta)
            );
            assert!((fro - red.norm(Norm::Frobenius, &theta)).abs() < tol);
            // Every column is centred over the answers.
            for j in 0..w.ncols() {
                let s: f64 = (0..w.nrows()).map(|i| w[(i, j)]).sum();
                assert!(s.abs() < 1e-12);
            }
        }
    }
}
