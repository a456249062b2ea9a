//! oocr-llm: the LLM knowledge-injection experiment (paper Sec. 2).
//!
//! Fine-tune a pretrained causal LM on new facts about fictitious people plus the implications of a
//! few of them, then measure by mean rank whether it infers the implications it never saw:
//! generalization when the fact→implication link is causal (City-Language), hallucination when it
//! is made up. Data flows `dataset` → `loader` (model + tokenizer) → `lora` (what trains) →
//! `train` → `eval` → `experiment` (run folder, `results.json`, Markdown table).
pub mod assoc;
pub mod batch;
pub mod config;
pub mod dataset;
pub mod error;
pub mod eval;
pub mod experiment;
pub mod grad_sink;
pub mod kernels;
pub mod linear;
pub mod loader;
pub mod lora;
pub mod model;
pub mod models;
pub mod optim;
pub mod packed;
pub mod report;
pub mod run_config;
pub mod run_dir;
pub mod stats;
pub mod tokenizer;
pub mod train;
pub mod weights;

pub use config::ModelConfig;
pub use dataset::{Association, Dataset, DatasetConfig, ASSOCIATIONS};
pub use error::{LlmError, Result};
pub use loader::{load, LoadedModel};
pub use lora::{LoraConfig, Method};
pub use model::CausalLm;

/// Threads the tensor kernels use (`RAYON_NUM_THREADS`, else the number of cores).
pub fn threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// Tune the process for CPU training; call once at start-up, before any tensor work.
///
/// - candle runs element-wise kernels on a spinning thread pool (`CANDLE_NUM_THREADS`); on a
///   machine shared with other jobs a spinning waiter burns the core its worker needs. Unless the
///   user set it, element-wise kernels run on the calling thread; matrix products still use all
///   `RAYON_NUM_THREADS` threads.
/// - glibc returns freed blocks above 128 KiB to the kernel, so every step page-faults its
///   activations afresh; keep up to 32 MiB blocks and 1 GiB of free heap instead.
pub fn configure_cpu_runtime() {
    if std::env::var_os("CANDLE_NUM_THREADS").is_none() {
        std::env::set_var("CANDLE_NUM_THREADS", "1");
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; called before other threads allocate.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        libc::mallopt(libc::M_TOP_PAD, 256 << 20);
    }
}
