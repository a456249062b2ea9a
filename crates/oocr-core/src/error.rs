//! Typed errors of oocr-core.

use std::path::PathBuf;

/// Everything that can go wrong in oocr-core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration key holds an invalid value, or is unknown.
    #[error("config key `{key}`: {msg}")]
    Config {
        /// Dotted key, e.g. `train.lr`.
        key: String,
        /// What is wrong with it.
        msg: String,
    },
    /// A config file or string that is not valid TOML.
    #[error("config {source_name}: {msg}")]
    ConfigParse {
        /// File name or `--set` argument.
        source_name: String,
        /// Parser message.
        msg: String,
    },
    /// An unknown preset name.
    #[error("unknown preset `{0}` (run `oocr presets` to list them)")]
    UnknownPreset(String),
    /// Training produced a non-finite value.
    #[error("training diverged at step {step}: {what} is not finite (lower train.lr?)")]
    Diverged {
        /// Step at which it happened.
        step: usize,
        /// Which quantity.
        what: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The offending path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A run folder that cannot be used.
    #[error("run folder {path}: {msg}")]
    RunDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        msg: String,
    },
    /// A JSON (de)serialization failure.
    #[error("{path}: {msg}")]
    Json {
        /// The file involved.
        path: PathBuf,
        /// Message.
        msg: String,
    },
    /// A solver failure.
    #[error("solver: {0}")]
    Solver(String),
    /// A sweep grid file that cannot be used (checked before any run).
    #[error("grid {source_name}: {msg}")]
    Grid {
        /// The grid file.
        source_name: String,
        /// What is wrong with it.
        msg: String,
    },
    /// A `--shard I/N` value that is not 1 <= I <= N.
    #[error("--shard `{value}`: {msg}")]
    Shard {
        /// The value given.
        value: String,
        /// What is wrong with it.
        msg: String,
    },
}

/// Result alias of oocr-core.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for a config-key error.
    pub fn config(key: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            msg: msg.into(),
        }
    }

    /// Shorthand for an I/O error on a path.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
