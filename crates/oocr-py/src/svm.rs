//! `oocr.svm(config, norm)`: the nuclear- or Frobenius-norm max-margin program of the config's
//! task (Sec. 4, Theorem 1), solved with a duality-gap certificate; the keys of `oocr svm`'s JSON
//! report plus the solution `w` as a numpy array with its row and column names.

use crate::config::config_arg;
use crate::convert::{numpy_matrix, to_py};
use crate::errors::IntoPy;
use oocr_core::run::w_ov_labels;
use oocr_core::svm::{self as core_svm, Method, Norm, SolveOptions};
use oocr_core::{theory, Task};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::Serialize;

/// The keys of `oocr svm`'s JSON report, in its order.
#[derive(Serialize)]
struct Report<'a> {
    norm: &'static str,
    objective: f64,
    status: core_svm::Status,
    iterations: usize,
    solve_s: f64,
    margin_train_min: f64,
    margin_test_vs_implications_min: Option<f64>,
    margin_test_vs_facts_min: Option<f64>,
    closed_form_test_margin: Option<f64>,
    certificate: core_svm::certificate::Certificate,
    method: &'static str,
    detail: &'a str,
    n: usize,
    m_train: usize,
    m_test: usize,
    n_constraints: usize,
}

/// A `nuclear`/`frobenius` or method name through its serde spelling (the CLI's).
fn parse<T: serde::de::DeserializeOwned>(what: &str, value: &str, allowed: &str) -> PyResult<T> {
    serde_json::from_value(serde_json::Value::String(value.to_string())).map_err(|_| {
        PyValueError::new_err(format!("{what} must be one of {allowed}, got `{value}`"))
    })
}

/// Solves the max-margin program of `config`'s task (an `oocr.Config` or a preset name; only
/// `[task]` and `train.seed` matter) and certifies the answer.
///
/// Returns a dict: `norm`, `objective`, `status`, `iterations`, `solve_s`, `margin_train_min`,
/// `margin_test_vs_implications_min`, `margin_test_vs_facts_min`, `closed_form_test_margin`,
/// `certificate`, `method`, `detail`, `n`, `m_train`, `m_test`, `n_constraints`, and `w` (float64,
/// answers × (subjects ∪ {r1, r2}), scaled to a smallest training margin of 1) with `rows` and
/// `cols` naming its rows and columns.
#[pyfunction]
#[pyo3(signature = (config, norm="nuclear", *, method="auto", tol=1e-8, max_iter=200_000))]
pub fn svm<'py>(
    py: Python<'py>,
    config: &Bound<'py, PyAny>,
    norm: &str,
    method: &str,
    tol: f64,
    max_iter: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let cfg = config_arg(config)?;
    let norm: Norm = parse("norm", norm, "nuclear, frobenius")?;
    let method: Method = parse("method", method, "auto, reduced, admm, dual-cd, sdp")?;
    if !(tol > 0.0 && tol.is_finite()) {
        return Err(PyValueError::new_err(format!(
            "tol must be a positive number, got {tol}"
        )));
    }
    let opts = SolveOptions {
        method,
        tol,
        max_iter,
    };
    let (task, sol) = py.detach(|| {
        let task = Task::new(&cfg.task, cfg.train.seed);
        let sol = core_svm::solve(&task, norm, &opts);
        (task, sol)
    });
    let sol = sol.py_err()?;
    let mg = core_svm::margins(&task, sol.w.as_ref());
    let t = &cfg.task;
    let report = Report {
        norm: norm.name(),
        objective: sol.objective,
        status: sol.status,
        iterations: sol.iterations,
        solve_s: sol.solve_s,
        margin_train_min: mg.train_min,
        margin_test_vs_implications_min: mg.test_vs_implications_min,
        margin_test_vs_facts_min: mg.test_vs_facts_min,
        closed_form_test_margin: theory::test_margin(norm, t.n, t.m_train, t.m_test),
        certificate: sol.certificate,
        method: sol.method.name(),
        detail: &sol.detail,
        n: t.n,
        m_train: t.m_train,
        m_test: t.m_test,
        n_constraints: core_svm::constraints::Constraints::train(&task).len(),
    };
    let d = to_py(py, &report)?.into_bound(py).cast_into::<PyDict>()?;
    d.set_item("certificate", to_py(py, &sol.certificate)?)?;
    d.set_item(
        "w",
        numpy_matrix(py, sol.w.nrows(), sol.w.ncols(), |i, j| sol.w[(i, j)])?,
    )?;
    let (rows, cols) = w_ov_labels(&task);
    d.set_item("rows", rows)?;
    d.set_item("cols", cols)?;
    Ok(d)
}
