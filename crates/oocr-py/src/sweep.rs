//! `oocr.sweep(grid, out)` and `oocr.aggregate(dir)`: a grid of runs × seeds into a sweep folder
//! (the same folder as `oocr sweep`: resumable, finished points skipped), and its table of mean ±
//! std over seeds, one dict per grid point.

use crate::convert::{json_to_py, to_py};
use crate::errors::IntoPy;
use oocr_core::aggregate::aggregate as aggregate_core;
use oocr_core::sweep::{Shard, Sweep};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;

/// Trains every point of the grid file `grid` (or one `shard="I/N"` of it) into `out`, `jobs`
/// points at a time (default: one per CPU; results do not depend on it). Returns one dict per
/// point, as the lines of `points*.jsonl`: `index`, `folder`, `seed`, `overrides`, `status`
/// (`done`, `skipped` — finished before — or `failed`, with `error`), `elapsed_s`, `shard`.
/// A failed point does not stop the others. Ctrl-C is acted on when the points in flight are done
/// (every finished point is kept; a rerun skips them).
#[pyfunction]
#[pyo3(signature = (grid, out, *, jobs=None, shard=None))]
pub fn sweep(
    py: Python<'_>,
    grid: PathBuf,
    out: PathBuf,
    jobs: Option<usize>,
    shard: Option<&str>,
) -> PyResult<Py<PyAny>> {
    let shard: Shard = match shard {
        Some(s) => s.parse().py_err()?,
        None => Shard::ALL,
    };
    if jobs == Some(0) {
        return Err(PyValueError::new_err("jobs must be at least 1"));
    }
    let sweep = Sweep::load(&grid).py_err()?;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(jobs.unwrap_or(0))
        .build()
        .map_err(|e| PyRuntimeError::new_err(format!("starting the thread pool: {e}")))?;
    let report = py
        .detach(|| pool.install(|| sweep.run(&out, shard, &|_| {})))
        .py_err()?;
    py.check_signals()?;
    to_py(py, &report.logs)
}

/// The table of a sweep folder: one dict per grid point with the varying config keys, `runs`,
/// `failed`, `seeds`, and `METRIC_mean`, `METRIC_std` for every final metric (None where
/// undefined), the columns of `oocr aggregate --out FILE.csv`.
#[pyfunction]
pub fn aggregate(py: Python<'_>, dir: PathBuf) -> PyResult<Vec<Bound<'_, PyDict>>> {
    let table = py.detach(|| aggregate_core(&dir)).py_err()?;
    table
        .rows
        .iter()
        .map(|r| {
            let d = PyDict::new(py);
            for (k, v) in table.keys.iter().zip(&r.values) {
                d.set_item(k, json_to_py(py, v)?)?;
            }
            d.set_item("runs", r.seeds.len())?;
            d.set_item("failed", r.failed)?;
            d.set_item("seeds", &r.seeds)?;
            for (m, s) in table.metrics.iter().zip(&r.stats) {
                d.set_item(format!("{m}_mean"), s.mean)?;
                d.set_item(format!("{m}_std"), s.std)?;
            }
            Ok(d)
        })
        .collect()
}
