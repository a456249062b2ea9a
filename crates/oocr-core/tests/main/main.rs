//! End-to-end tests of oocr-core, one module per subject, in one test binary (one link instead
//! of one per file). Select a subject with a filter, e.g. `cargo test -p oocr-core --test main svm::`.

mod alignment;
mod authors;
mod paper;
mod svm;
mod sweep;
mod theorem2;
