//! `import oocr`: the Python face of oocr-core, a thin PyO3 layer with no logic of its own.
//!
//! Configs ([`config::PyConfig`]), training runs ([`train::PyRun`]), the max-margin programs
//! ([`svm::svm`]) and sweeps ([`sweep::sweep`], [`sweep::aggregate`]). Matrices come out as
//! float64 numpy arrays, results as plain dicts with the keys of the run-folder files. Errors are
//! the library's messages as Python exceptions ([`errors`]); long calls release the GIL and check
//! for Ctrl-C while they run.

mod config;
mod convert;
mod errors;
mod svm;
mod sweep;
mod train;

use pyo3::prelude::*;
use pyo3::types::PyDict;

/// The built-in presets: `[{"name", "description", "config"}]`, in a stable order.
#[pyfunction]
fn presets(py: Python<'_>) -> PyResult<Vec<Bound<'_, PyDict>>> {
    oocr_core::presets::all()
        .into_iter()
        .map(|p| {
            let d = PyDict::new(py);
            d.set_item("name", p.name)?;
            d.set_item("description", p.description)?;
            d.set_item("config", convert::to_py(py, &p.config)?)?;
            Ok(d)
        })
        .collect()
}

/// The Python module `oocr`.
#[pymodule]
fn oocr(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<config::PyConfig>()?;
    m.add_class::<train::PyRun>()?;
    m.add_function(wrap_pyfunction!(presets, m)?)?;
    m.add_function(wrap_pyfunction!(train::train, m)?)?;
    m.add_function(wrap_pyfunction!(svm::svm, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::sweep, m)?)?;
    m.add_function(wrap_pyfunction!(sweep::aggregate, m)?)?;
    Ok(())
}
