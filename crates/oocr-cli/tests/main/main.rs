//! End-to-end tests of the `oocr` binary, one module per subject, in one test binary (one link
//! instead of one per file).

mod cli;
#[cfg(feature = "llm")]
#[path = "../../../oocr-llm/tests/main/common.rs"]
mod common;
mod hostile;
#[cfg(feature = "llm")]
mod llm_eval_cli;
#[cfg(feature = "llm")]
mod llm_run_cli;
mod svm_cli;
mod sweep_cli;
