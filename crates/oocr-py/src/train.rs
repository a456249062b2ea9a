//! `oocr.train(config, out=None) -> Run`: one training run, optionally into a run folder (the same
//! files as `oocr train --out`). The GIL is released while it trains; Ctrl-C (or an exception in
//! `callback`) stops it after the current step with the metrics so far kept.

use crate::config::{config_arg, PyConfig};
use crate::convert::{numpy_matrix, to_py};
use crate::errors::IntoPy;
use oocr_core::run::{w_ov_labels, RunDir};
use oocr_core::train::{train as train_core, Observer, Outcome, Record};
use oocr_core::Config;
use pyo3::exceptions::PyImportError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How often a running training loop looks for Ctrl-C.
const SIGNAL_CHECK_EVERY: Duration = Duration::from_millis(50);

/// A finished (or stopped) training run: metrics, final metrics and the learned W_OV.
#[pyclass(name = "Run", module = "oocr", frozen)]
pub struct PyRun {
    config: Config,
    outcome: Outcome,
    out: Option<PathBuf>,
}

#[pymethods]
impl PyRun {
    /// The resolved config of the run.
    #[getter]
    fn config(&self) -> PyConfig {
        PyConfig {
            inner: self.config.clone(),
        }
    }

    /// The metrics after the last step (the `final` object of `summary.json`).
    #[getter(r#final)]
    fn final_metrics(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, self.outcome.final_metrics())
    }

    /// Every logged step, as the lines of `metrics.jsonl` (`step` and the metric keys; NaN is None).
    #[getter]
    fn metrics(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        to_py(py, &self.outcome.records)
    }

    /// `metrics` as a pandas DataFrame indexed by `step` (needs pandas).
    fn metrics_frame<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let pd = py.import("pandas").map_err(|_| {
            PyImportError::new_err("Run.metrics_frame() needs pandas: pip install pandas")
        })?;
        pd.call_method1("DataFrame", (self.metrics(py)?,))?
            .call_method1("set_index", ("step",))
    }

    /// The learned W_OV[answers, subjects ∪ {r1, r2}] (the heatmaps of Sec. 3.2) as a float64 array
    /// of shape (2n, |S| + 2); rows are named by `w_ov_rows`, columns by `w_ov_cols`.
    fn w_ov<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let w = self.outcome.model.w_answers_context(&self.outcome.task);
        numpy_matrix(py, w.nrows(), w.ncols(), |i, j| w[(i, j)])
    }

    /// Row names of `w_ov()`: `b_1..b_n, c_1..c_n`.
    #[getter]
    fn w_ov_rows(&self) -> Vec<String> {
        w_ov_labels(&self.outcome.task).0
    }

    /// Column names of `w_ov()`: subjects `s_i_j`, then `r1`, `r2`.
    #[getter]
    fn w_ov_cols(&self) -> Vec<String> {
        w_ov_labels(&self.outcome.task).1
    }

    /// Optimizer steps taken (fewer than `config.train.steps` when stopped).
    #[getter]
    fn steps(&self) -> usize {
        self.outcome.records.last().map_or(0, |r| r.step)
    }

    /// The step at which Ctrl-C or the callback stopped the run; None when it finished.
    #[getter]
    fn stopped_at(&self) -> Option<usize> {
        self.outcome.stopped_at
    }

    /// Wall-clock seconds of training (metrics included).
    #[getter]
    fn elapsed_s(&self) -> f64 {
        self.outcome.elapsed_s
    }

    /// The run folder, or None.
    #[getter]
    fn out(&self) -> Option<PathBuf> {
        self.out.clone()
    }

    fn __repr__(&self) -> String {
        let m = self.outcome.final_metrics();
        format!(
            "oocr.Run(steps={}{}, train_loss={:.4e}, test_loss={:.4}, test_accuracy={:.4}, \
             test_mean_rank={:.4}, out={})",
            self.steps(),
            self.outcome
                .stopped_at
                .map_or(String::new(), |s| format!(" (stopped at {s})")),
            m.train_loss,
            m.test_loss,
            m.test_accuracy,
            m.test_mean_rank,
            self.out
                .as_ref()
                .map_or("None".into(), |p| format!("'{}'", p.display()))
        )
    }
}

/// Appends to the run folder, reports records to Python, and asks for a stop on Ctrl-C or when the
/// callback raised.
struct PyObserver<'a> {
    run: Option<&'a mut RunDir>,
    callback: Option<&'a Py<PyAny>>,
    progress: bool,
    steps: usize,
    last_check: Instant,
    stop: Option<PyErr>,
}

impl PyObserver<'_> {
    fn report(&self, py: Python<'_>, record: &Record) -> PyResult<()> {
        if self.progress {
            let m = &record.metrics;
            let line = format!(
                "step {:>w$}/{}  train_loss {:.4e}  test_loss {:.4}  test_accuracy {:.3}  \
                 test_mean_rank {:.3}",
                record.step,
                self.steps,
                m.train_loss,
                m.test_loss,
                m.test_accuracy,
                m.test_mean_rank,
                w = self.steps.to_string().len()
            );
            let kwargs = PyDict::new(py);
            kwargs.set_item("flush", true)?;
            py.import("builtins")?
                .getattr("print")?
                .call((line,), Some(&kwargs))?;
        }
        if let Some(cb) = self.callback {
            cb.call1(py, (to_py(py, record)?,))?;
        }
        Ok(())
    }
}

impl Observer for PyObserver<'_> {
    fn on_record(&mut self, record: &Record) -> oocr_core::Result<()> {
        if let Some(run) = self.run.as_deref_mut() {
            run.append(record)?;
        }
        if (self.progress || self.callback.is_some()) && self.stop.is_none() {
            if let Err(e) = Python::attach(|py| self.report(py, record)) {
                self.stop = Some(e);
            }
        }
        Ok(())
    }

    fn should_stop(&mut self) -> bool {
        if self.stop.is_none() && self.last_check.elapsed() >= SIGNAL_CHECK_EVERY {
            self.last_check = Instant::now();
            if let Err(e) = Python::attach(|py| py.check_signals()) {
                self.stop = Some(e);
            }
        }
        self.stop.is_some()
    }
}

/// Trains `config` (an `oocr.Config` or a preset name) from scratch and returns the `Run`.
///
/// With `out`, writes the run folder as `oocr train --out` does (`config.toml`, `metrics.jsonl`
/// flushed per line, `w_ov.csv`, then `summary.json`); an existing non-empty folder is refused
/// unless `force`. `progress` prints one line per logged step; `callback(record)` is called with
/// every logged record (a dict), and an exception it raises stops the run. On Ctrl-C the run stops
/// after the current step and `KeyboardInterrupt` is raised with the stopped `Run` as its `run`
/// attribute (its metrics end at that step; the folder keeps `metrics.jsonl` and gets no
/// `summary.json`).
#[pyfunction]
#[pyo3(signature = (config, out=None, *, force=false, progress=false, callback=None))]
pub fn train(
    py: Python<'_>,
    config: &Bound<'_, PyAny>,
    out: Option<PathBuf>,
    force: bool,
    progress: bool,
    callback: Option<Py<PyAny>>,
) -> PyResult<Py<PyRun>> {
    let cfg = config_arg(config)?;
    // With fixed attention, both max-margin solutions are solved once for the cosine metrics
    // (as `oocr train` does); this happens before the run folder is created.
    let svm = py.detach(|| oocr_core::svm::reference_for(&cfg)).py_err()?;
    let mut run_dir = match &out {
        Some(path) => Some(RunDir::create(path, &cfg, force).py_err()?),
        None => None,
    };
    let mut obs = PyObserver {
        run: run_dir.as_mut(),
        callback: callback.as_ref(),
        progress,
        steps: cfg.train.steps,
        last_check: Instant::now(),
        stop: None,
    };
    let result = py.detach(|| train_core(&cfg, svm.as_ref(), &mut obs));
    let stop = obs.stop.take();
    let outcome = result.py_err()?;
    if stop.is_none() {
        if let Some(run) = run_dir.as_mut() {
            run.finish(&cfg, &outcome).py_err()?;
        }
    }
    let stopped_at = outcome.stopped_at;
    let run = Py::new(
        py,
        PyRun {
            config: cfg,
            outcome,
            out,
        },
    )?;
    match stop {
        None => Ok(run),
        Some(err) => {
            let exc = err.value(py);
            let note = format!(
                "oocr: training stopped at step {}; the run so far is this exception's `run` \
                 attribute{}",
                stopped_at.unwrap_or(0),
                run.get().out.as_ref().map_or(String::new(), |p| format!(
                    " and {}",
                    p.join("metrics.jsonl").display()
                ))
            );
            exc.setattr("run", run)?;
            if exc.hasattr("add_note")? {
                exc.call_method1("add_note", (note,))?;
            }
            Err(err)
        }
    }
}
