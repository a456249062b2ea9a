//! End-to-end tests of the `oocr` binary, one module per subject, in one test binary (one link
//! instead of one per file).

mod cli;
mod hostile;
#[cfg(feature = "llm")]
mod llm_eval_cli;
mod svm_cli;
mod sweep_cli;
