//! `oocr.Config`: the run configuration (`[task]`, `[model]`, `[train]`), from a preset, a TOML
//! file or a dict, changed key by key with `.set("train.lr", 0.5)`; validated at every change, so
//! an invalid config never exists (the `ValueError` names the key).

use crate::convert::{json_to_py, py_to_toml};
use crate::errors::IntoPy;
use oocr_core::config::set_dotted;
use oocr_core::{presets, Config};
use pyo3::exceptions::{PyKeyError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::PyString;
use std::path::PathBuf;

/// A validated run configuration.
#[pyclass(name = "Config", module = "oocr", from_py_object, eq)]
#[derive(Clone, PartialEq)]
pub struct PyConfig {
    /// The Rust config.
    pub inner: Config,
}

#[pymethods]
impl PyConfig {
    /// The defaults (those of the `paper-factorized` preset).
    #[new]
    fn new() -> Self {
        PyConfig {
            inner: Config::default(),
        }
    }

    /// A built-in preset by name (see `oocr.presets()`).
    #[staticmethod]
    fn preset(name: &str) -> PyResult<Self> {
        Ok(PyConfig {
            inner: presets::preset(name).py_err()?.config,
        })
    }

    /// A TOML file with `[task]`, `[model]`, `[train]` sections (missing keys take defaults).
    #[staticmethod]
    fn from_toml(path: PathBuf) -> PyResult<Self> {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| oocr_core::Error::io(&path, e))
            .py_err()?;
        Self::from_toml_str(&text, Some(&path.display().to_string()))
    }

    /// A TOML string; `source` names it in error messages.
    #[staticmethod]
    #[pyo3(signature = (text, source=None))]
    fn from_toml_str(text: &str, source: Option<&str>) -> PyResult<Self> {
        Ok(PyConfig {
            inner: Config::from_toml_str(text, source.unwrap_or("<string>")).py_err()?,
        })
    }

    /// A dict of sections, as `to_dict()` returns (missing keys take defaults).
    #[staticmethod]
    fn from_dict(values: &Bound<'_, PyAny>) -> PyResult<Self> {
        let value = py_to_toml("", values)?;
        if !value.is_table() {
            return Err(PyTypeError::new_err(
                "Config.from_dict expects a dict of sections",
            ));
        }
        Ok(PyConfig {
            inner: Config::from_value(value).py_err()?,
        })
    }

    /// Sets one dotted key (`"train.lr"`, `"model.param"`) and re-validates; returns the config,
    /// so calls chain. On error the config is unchanged.
    fn set<'py>(
        mut slf: PyRefMut<'py, Self>,
        key: &str,
        value: &Bound<'py, PyAny>,
    ) -> PyResult<PyRefMut<'py, Self>> {
        let v = py_to_toml(key, value)?;
        let mut tree = slf.inner.to_value();
        set_dotted(&mut tree, key, v).py_err()?;
        slf.inner = Config::from_value(tree).py_err()?;
        Ok(slf)
    }

    /// The value of one dotted key.
    fn get(&self, py: Python<'_>, key: &str) -> PyResult<Py<PyAny>> {
        let tree = serde_json::to_value(&self.inner).expect("a Config serializes");
        let found = key
            .split('.')
            .try_fold(&tree, |node, part| node.get(part))
            .filter(|_| key.contains('.'));
        match found {
            Some(v) => json_to_py(py, v),
            None => Err(PyKeyError::new_err(format!(
                "no config key `{key}` (expected section.key, e.g. train.lr)"
            ))),
        }
    }

    /// `{"task": {...}, "model": {...}, "train": {...}}`.
    fn to_dict(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        crate::convert::to_py(py, &self.inner)
    }

    /// The config as TOML text, as a run folder's `config.toml` holds it.
    fn to_toml(&self) -> String {
        self.inner.to_toml_string()
    }

    /// An independent copy.
    fn copy(&self) -> Self {
        self.clone()
    }

    fn __copy__(&self) -> Self {
        self.clone()
    }

    fn __repr__(&self) -> String {
        format!(
            "oocr.Config.from_toml_str('''\n{}''')",
            self.inner.to_toml_string()
        )
    }
}

/// A `Config` or a preset name, as every function taking a config accepts.
pub fn config_arg(obj: &Bound<'_, PyAny>) -> PyResult<Config> {
    if let Ok(c) = obj.cast::<PyConfig>() {
        Ok(c.borrow().inner.clone())
    } else if let Ok(name) = obj.cast::<PyString>() {
        Ok(presets::preset(&name.to_cow()?).py_err()?.config)
    } else {
        Err(PyTypeError::new_err(format!(
            "expected an oocr.Config or a preset name, got {}",
            obj.get_type().name()?
        )))
    }
}
