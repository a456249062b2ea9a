//! oocr-core: the symbolic out-of-context-reasoning task, the one-layer linear-attention
//! transformer (factorized W_O W_V^T and merged W_OV), its trainer and metrics.
//!
//! Data flows one way: [`task`] → [`model`] → [`train`] → [`metrics`] → run folder ([`run`]).

pub mod aggregate;
pub mod atomic;
pub mod batch;
pub mod config;
pub mod csv_table;
pub mod error;
pub mod fastexp;
pub mod grad;
pub mod init;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod optim;
pub mod presets;
pub mod rank;
pub mod rng;
pub mod run;
pub mod svm;
pub mod sweep;
pub mod task;
#[cfg(test)]
mod testutil;
pub mod theory;
pub mod train;

pub use config::Config;
pub use error::{Error, Result};
pub use model::Model;
pub use task::{Block, Sample, Task};
