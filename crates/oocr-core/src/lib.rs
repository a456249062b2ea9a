//! oocr-core: the symbolic out-of-context-reasoning task, the one-layer linear-attention
//! transformer (factorized W_O W_V^T and merged W_OV), its trainer and metrics.

pub mod rank;
