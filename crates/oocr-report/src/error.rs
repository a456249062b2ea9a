//! Errors of figure and report writing.

use std::path::PathBuf;

/// What can go wrong while writing figures and reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A figure could not be drawn or written.
    #[error("figure {path}: {msg}")]
    Plot {
        /// The file being written.
        path: PathBuf,
        /// What went wrong.
        msg: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Training or solving failed.
    #[error(transparent)]
    Core(#[from] oocr_core::Error),
}

impl ReportError {
    /// An I/O error on `path`.
    pub fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        ReportError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Result with [`ReportError`].
pub type Result<T> = std::result::Result<T, ReportError>;
