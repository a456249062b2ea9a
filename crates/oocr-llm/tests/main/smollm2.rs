//! Checks on the real SmolLM2-135M-Instruct GGUF (ignored by default: needs the download).
//! Run: `scripts/fetch-smollm2.sh && cargo test -p oocr-llm --test main smollm2:: -- --ignored`
//! (`OOCR_SMOLLM2=/path/model.gguf` to point elsewhere).
use crate::common::candidate_scores;
use std::path::PathBuf;

fn model_path() -> PathBuf {
    std::env::var_os("OOCR_SMOLLM2")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../models/SmolLM2-135M-Instruct.Q4_1.gguf")
        })
}

#[test]
#[ignore = "needs models/SmolLM2-135M-Instruct.Q4_1.gguf (scripts/fetch-smollm2.sh)"]
fn smollm2_tokenizer_and_world_knowledge() {
    let lm = oocr_llm::load(&model_path(), None).unwrap();
    assert_eq!(lm.model.cfg.num_layers, 30);
    assert_eq!((lm.model.cfg.num_heads, lm.model.cfg.num_kv_heads), (9, 3));
    let t = &lm.tokenizer;
    // Known encoding: whole words of the vocabulary, no BOS (tokenizer.ggml.add_bos_token = false).
    let words = ["The", "Ġcapital", "Ġof", "ĠFrance", "Ġis"];
    let expected: Vec<u32> = words
        .iter()
        .map(|w| t.token_id(w).expect("word in vocabulary"))
        .collect();
    assert_eq!(
        t.encode_prompt("The capital of France is").unwrap(),
        expected
    );
    assert_eq!(t.token_id("<|im_start|>"), Some(1));
    // The pretrained model knows the capital: a wrong RoPE layout (q/k permutation) would not.
    let scores = candidate_scores(
        &lm,
        "The capital of France is",
        &[" Paris", " London", " Berlin", " Tokyo"],
    );
    assert!(
        scores[0] > scores[1] && scores[0] > scores[2] && scores[0] > scores[3],
        "{scores:?}"
    );
    assert!(scores[0] > -3.0, "log p(Paris) = {}", scores[0]);
}
