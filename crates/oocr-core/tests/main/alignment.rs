//! With fixed attention, training aligns with the SVM solution of its
//! parameterization (the paper's Sec. 4, Theorem 1): factorized → nuclear norm, merged W_OV → Frobenius norm.
//! A 5-pair task with one-hot embeddings, so it runs in well under a second; the paper-size runs
//! (50 000 steps) are measured with the CLI and reported in the notes.

use oocr_core::config::Config;
use oocr_core::presets;
use oocr_core::svm::reference_for;
use oocr_core::train::{train, Silent};

fn config(preset: &str, extra: &[&str]) -> Config {
    let mut sets: Vec<String> = [
        "task.n=5",
        "model.d=0",
        "model.embedding=onehot",
        "model.d_h=16",
        "train.steps=2000",
        "train.log_every=1000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sets.extend(extra.iter().map(|s| s.to_string()));
    presets::preset(preset)
        .unwrap()
        .config
        .with_overrides(&sets)
        .unwrap()
}

/// (cos_nuclear_svm, cos_frobenius_svm) after training `cfg`.
fn final_cosines(cfg: &Config) -> (f64, f64) {
    let svm = reference_for(cfg).unwrap();
    assert!(svm.is_some(), "fixed attention gets a reference");
    let out = train(cfg, svm.as_ref(), &mut Silent).unwrap();
    for r in &out.records {
        assert!(r.metrics.cos_nuclear_svm.is_some() && r.metrics.cos_frobenius_svm.is_some());
    }
    let m = out.final_metrics();
    (m.cos_nuclear_svm.unwrap(), m.cos_frobenius_svm.unwrap())
}

#[test]
fn factorized_training_aligns_with_the_nuclear_solution() {
    let (nuc, fro) = final_cosines(&config("paper-factorized", &[]));
    assert!(nuc - fro > 0.05, "cos nuclear {nuc}, cos frobenius {fro}");
    assert!(nuc > 0.95, "cos nuclear {nuc}");
}

#[test]
fn merged_training_aligns_with_the_frobenius_solution() {
    let (nuc, fro) = final_cosines(&config("paper-nonfactorized", &[]));
    assert!(fro > 0.99, "cos frobenius {fro}");
    assert!(fro > nuc, "cos nuclear {nuc}, cos frobenius {fro}");
}

#[test]
fn trainable_attention_has_no_reference_and_null_cosines() {
    let cfg = config(
        "paper-factorized",
        &["model.attention=trainable", "train.steps=10"],
    );
    let svm = reference_for(&cfg).unwrap();
    assert!(svm.is_none());
    let out = train(&cfg, svm.as_ref(), &mut Silent).unwrap();
    let m = out.final_metrics();
    assert_eq!((m.cos_nuclear_svm, m.cos_frobenius_svm), (None, None));
}
