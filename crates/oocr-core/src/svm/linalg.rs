//! Sequential (single-thread, deterministic) SVD helpers on faer matrices.

use crate::error::{Error, Result};
use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::svd::{self, ComputeSvdVectors};
use faer::{Mat, MatRef, Par};

/// Singular values of `a`, nonincreasing.
pub fn singular_values(a: MatRef<'_, f64>) -> Result<Vec<f64>> {
    let k = a.nrows().min(a.ncols());
    if k == 0 {
        return Ok(Vec::new());
    }
    let mut s = faer::diag::Diag::<f64>::zeros(k);
    let req = svd::svd_scratch::<f64>(
        a.nrows(),
        a.ncols(),
        ComputeSvdVectors::No,
        ComputeSvdVectors::No,
        Par::Seq,
        Default::default(),
    );
    let mut buf = MemBuffer::new(req);
    svd::svd(
        a,
        s.as_mut(),
        None,
        None,
        Par::Seq,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|e| Error::Solver(format!("SVD failed: {e:?}")))?;
    Ok(s.column_vector().iter().copied().collect())
}

/// Thin SVD `a = U diag(s) Vᵀ` with `s` nonincreasing.
pub fn thin_svd(a: MatRef<'_, f64>) -> Result<(Mat<f64>, Vec<f64>, Mat<f64>)> {
    let (m, n) = a.shape();
    let k = m.min(n);
    let mut u = Mat::<f64>::zeros(m, k);
    let mut v = Mat::<f64>::zeros(n, k);
    let mut s = faer::diag::Diag::<f64>::zeros(k);
    if k == 0 {
        return Ok((u, Vec::new(), v));
    }
    let req = svd::svd_scratch::<f64>(
        m,
        n,
        ComputeSvdVectors::Thin,
        ComputeSvdVectors::Thin,
        Par::Seq,
        Default::default(),
    );
    let mut buf = MemBuffer::new(req);
    svd::svd(
        a,
        s.as_mut(),
        Some(u.as_mut()),
        Some(v.as_mut()),
        Par::Seq,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|e| Error::Solver(format!("SVD failed: {e:?}")))?;
    Ok((u, s.column_vector().iter().copied().collect(), v))
}

/// Nuclear norm ‖a‖_* (sum of singular values).
pub fn nuclear_norm(a: MatRef<'_, f64>) -> Result<f64> {
    Ok(singular_values(a)?.iter().sum())
}

/// Spectral norm ‖a‖₂ (largest singular value).
pub fn spectral_norm(a: MatRef<'_, f64>) -> Result<f64> {
    Ok(singular_values(a)?.first().copied().unwrap_or(0.0))
}

/// Frobenius norm ‖a‖_F.
pub fn frobenius_norm(a: MatRef<'_, f64>) -> f64 {
    let mut s = 0.0;
    for j in 0..a.ncols() {
        for i in 0..a.nrows() {
            s += a[(i, j)] * a[(i, j)];
        }
    }
    s.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norms_of_a_known_matrix() {
        // [[3, 0], [4, 5]] has singular values sqrt(45) and sqrt(5).
        let a = Mat::from_fn(2, 2, |i, j| [[3.0, 0.0], [4.0, 5.0]][i][j]);
        let s = singular_values(a.as_ref()).unwrap();
        assert!((s[0] - 45f64.sqrt()).abs() < 1e-12 && (s[1] - 5f64.sqrt()).abs() < 1e-12);
        assert!((frobenius_norm(a.as_ref()) - 50f64.sqrt()).abs() < 1e-12);
        let (u, s, v) = thin_svd(a.as_ref()).unwrap();
        for i in 0..2 {
            for j in 0..2 {
                let r: f64 = (0..2).map(|k| u[(i, k)] * s[k] * v[(j, k)]).sum();
                assert!((r - a[(i, j)]).abs() < 1e-12);
            }
        }
    }
}
