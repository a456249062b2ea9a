//! Checks on the real Gemma-3-270M GGUF (Q4_K_M; ignored by default: needs the download).
//! Run: `scripts/fetch-gemma3.sh && cargo test --release -p oocr-llm --test main gemma3:: -- --ignored`
//! (`OOCR_GEMMA3=/path/model.gguf` to point elsewhere).
use crate::common::candidate_scores as scores;
use oocr_llm::loader::load_with;
use oocr_llm::packed::BaseDtype;
use std::path::PathBuf;

fn model_path() -> PathBuf {
    std::env::var_os("OOCR_GEMMA3")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../models/gemma-3-270m-q4_k_m.gguf")
        })
}

#[test]
#[ignore = "needs models/gemma-3-270m-q4_k_m.gguf (scripts/fetch-gemma3.sh)"]
fn gemma3_world_knowledge_with_every_base_dtype() {
    let lm = load_with(&model_path(), None, BaseDtype::F32).unwrap();
    let c = &lm.model.cfg;
    assert_eq!(c.family, "gemma3");
    assert_eq!(
        (c.num_layers, c.num_heads, c.num_kv_heads, c.head_dim),
        (18, 4, 1, 256)
    );
    // Local layers (5 of every 6) slide; every 6th layer is global with its own RoPE base.
    assert!(c.layers[0].window.is_some() && c.layers[5].window.is_none());
    let cands = [" Paris", " London", " Berlin", " Tokyo"];
    let s = scores(&lm, "The capital of France is", &cands);
    assert!(s[0] > s[1] && s[0] > s[2] && s[0] > s[3], "{s:?}");
    assert!(s[0] > -3.0, "log p(Paris) = {}", s[0]);
    // The packed bases: the GGUF's own blocks compute the f32 numbers; bf16 stays close.
    let q = load_with(&model_path(), None, BaseDtype::Quantized).unwrap();
    let sq = scores(&q, "The capital of France is", &cands);
    for (a, b) in sq.iter().zip(&s) {
        assert!((a - b).abs() < 1e-3, "quantized {sq:?} vs f32 {s:?}");
    }
    let b = load_with(&model_path(), None, BaseDtype::Bf16).unwrap();
    let sb = scores(&b, "The capital of France is", &cands);
    assert!(
        sb[0] > sb[1] && sb[0] > sb[2] && sb[0] > sb[3],
        "bf16 {sb:?}"
    );
}
