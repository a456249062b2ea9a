//! Typed errors of the LLM experiment: each names the file, key or value at fault.
use std::path::PathBuf;

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, LlmError>;

/// Everything that can go wrong while building datasets, loading, training or evaluating a model.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A model file (config.json, safetensors, GGUF) is malformed or lacks something the model needs.
    #[error("{path}: {msg}")]
    ModelFile {
        /// The file or folder at fault.
        path: PathBuf,
        /// What is wrong with it.
        msg: String,
    },
    /// A tokenizer could not be built or failed on a text.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// An invalid experiment setting (dataset, training or LoRA option).
    #[error("invalid setting `{key}`: {msg}")]
    Config {
        /// The option at fault.
        key: String,
        /// Why it is invalid.
        msg: String,
    },
    /// An association file is malformed or an association breaks a rule.
    #[error("{file}: association `{assoc}`: `{key}`: {msg}")]
    Assoc {
        /// The file at fault (`built-in` for the paper's five).
        file: String,
        /// The association's name (`-` when the file could not be read that far).
        assoc: String,
        /// The key at fault.
        key: String,
        /// What is wrong with it.
        msg: String,
    },
    /// Training produced a non-finite loss.
    #[error("training diverged: loss {loss} at epoch {epoch}, step {step} (try a smaller --lr)")]
    Diverged {
        /// Epoch (1-based) of the bad step.
        epoch: usize,
        /// Optimizer step (1-based, counted over the whole run) of the bad step.
        step: usize,
        /// The offending loss value.
        loss: f64,
    },
    /// An error inside candle (shapes, dtypes, kernels).
    #[error("tensor: {0}")]
    Candle(#[from] candle_core::Error),
}

impl LlmError {
    /// A `ModelFile` error for `path`.
    pub fn model_file(path: impl Into<PathBuf>, msg: impl Into<String>) -> Self {
        LlmError::ModelFile {
            path: path.into(),
            msg: msg.into(),
        }
    }

    /// A `Config` error for option `key`.
    pub fn config(key: impl Into<String>, msg: impl Into<String>) -> Self {
        LlmError::Config {
            key: key.into(),
            msg: msg.into(),
        }
    }

    /// An `Io` error for `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        LlmError::Io {
            path: path.into(),
            source,
        }
    }
}
