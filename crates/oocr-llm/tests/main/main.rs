//! End-to-end tests of oocr-llm, one module per subject, in one test binary (one link instead of
//! one per file). Select a subject with a filter: `cargo test -p oocr-llm --test main golden::`.

mod common;
mod eval_only;
mod gemma3;
mod gguf_tokenizer_fuzz;
mod golden;
mod native;
mod run_folder;
mod smollm2;
mod tiny_model;
mod tokenizers;
