//! oocr-core errors as Python exceptions, with the library's message unchanged: `ValueError` for
//! bad configs, grids and shards (the message names the key or file), `OSError` subclasses for
//! files and run folders, `FloatingPointError` for a diverged run, `RuntimeError` for the solver.

use oocr_core::Error;
use pyo3::exceptions::{
    PyFileExistsError, PyFileNotFoundError, PyFloatingPointError, PyIsADirectoryError,
    PyNotADirectoryError, PyOSError, PyPermissionError, PyRuntimeError, PyValueError,
};
use pyo3::PyErr;
use std::io::ErrorKind;

/// The Python exception of an oocr-core error.
pub fn to_py(e: Error) -> PyErr {
    let msg = e.to_string();
    match &e {
        Error::Config { .. }
        | Error::ConfigParse { .. }
        | Error::UnknownPreset(_)
        | Error::Grid { .. }
        | Error::Shard { .. }
        | Error::Json { .. } => PyValueError::new_err(msg),
        Error::Io { source, .. } => match source.kind() {
            ErrorKind::NotFound => PyFileNotFoundError::new_err(msg),
            ErrorKind::PermissionDenied => PyPermissionError::new_err(msg),
            ErrorKind::AlreadyExists => PyFileExistsError::new_err(msg),
            ErrorKind::IsADirectory => PyIsADirectoryError::new_err(msg),
            ErrorKind::NotADirectory => PyNotADirectoryError::new_err(msg),
            _ => PyOSError::new_err(msg),
        },
        Error::RunDir { .. } => PyFileExistsError::new_err(msg),
        Error::Diverged { .. } => PyFloatingPointError::new_err(msg),
        _ => PyRuntimeError::new_err(msg),
    }
}

/// `Result::map_err` shorthand.
pub trait IntoPy<T> {
    /// The same result with a Python exception as its error.
    fn py_err(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPy<T> for Result<T, Error> {
    fn py_err(self) -> pyo3::PyResult<T> {
        self.map_err(to_py)
    }
}
