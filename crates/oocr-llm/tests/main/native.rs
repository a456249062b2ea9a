//! The candle-native kernels (the path every non-CPU device takes) against oocr's fused CPU
//! kernels: the same training steps give the same losses to 1e-5, for full fine-tuning and LoRA.
//! A binary of its own: the switch is process-wide.

use crate::common::*;
use oocr_llm::batch::Example;
use oocr_llm::dataset::{association, Dataset, DatasetConfig};
use oocr_llm::experiment::encode_train;
use oocr_llm::lora::{make_trainable, LoraConfig, Method};
use oocr_llm::optim::{AdamW, AdamWConfig};
use oocr_llm::train::batch_loss;
use oocr_llm::{kernels, load};

fn losses(native: bool, method: &Method) -> Vec<f32> {
    kernels::set_native(native);
    let dir = tempfile::tempdir().unwrap();
    let lm = load(&write_hf(&dir.path().join("hf"), 12, false), None).unwrap();
    let ds = Dataset::build(
        association("city-language").unwrap(),
        DatasetConfig {
            group_size: 4,
            train_ratio: 0.25,
            seed: 0,
        },
    )
    .unwrap();
    let examples = encode_train(&lm, &ds).unwrap();
    let batch: Vec<&Example> = examples.iter().take(6).collect();
    let mut model = lm.model.clone();
    let params = make_trainable(&mut model, method, 1).unwrap();
    assert_eq!(
        params.iter().any(|p| p.sink.is_some()),
        !native && *method == Method::Full,
        "gradient sinks belong to the fused path only"
    );
    let mut opt = AdamW::new(
        params,
        AdamWConfig {
            lr: 3e-3,
            weight_decay: 0.01,
            ..Default::default()
        },
    )
    .unwrap();
    let mut out = Vec::new();
    for _ in 0..4 {
        let (loss, _) = batch_loss(&model, &batch, 0).unwrap();
        out.push(loss.to_scalar::<f32>().unwrap());
        opt.step(&loss.backward().unwrap()).unwrap();
    }
    kernels::set_native(false);
    out
}

#[test]
fn native_kernels_match_the_fused_ones() {
    for method in [Method::Full, Method::Lora(LoraConfig::new(2))] {
        let fused = losses(false, &method);
        let native = losses(true, &method);
        for (a, b) in fused.iter().zip(&native) {
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                "{method:?}: fused {fused:?} vs native {native:?}"
            );
        }
        assert!(
            fused[3] < fused[0],
            "{method:?}: training does not lower the loss"
        );
    }
}
