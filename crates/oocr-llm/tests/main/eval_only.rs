//! `evaluate` (`oocr llm eval`) end to end on the tiny random Llama of `common`: the same weights
//! from a Hugging Face folder and from a GGUF file give the same scores, the record format is that
//! of a run's `scores_before.jsonl`, and bad settings are refused before anything is written.

use crate::common::*;
use candle_core::quantized::GgmlDType;
use oocr_llm::dataset::{DatasetConfig, ASSOCIATIONS};
use oocr_llm::error::LlmError;
use oocr_llm::eval::RecordScores;
use oocr_llm::experiment::{evaluate, run, EvalConfig, EvalResults, RunConfig};
use oocr_llm::lora::Method;
use std::path::{Path, PathBuf};

fn cfg(model: PathBuf, assoc: &str) -> EvalConfig {
    EvalConfig {
        model,
        tokenizer: None,
        assoc: assoc.into(),
        assoc_files: Vec::new(),
        dataset: DatasetConfig {
            group_size: 4,
            train_ratio: 0.5,
            seed: 3,
        },
        eval_batch_size: 7,
    }
}

fn scores(path: &Path) -> Vec<RecordScores> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn hf_folder_and_gguf_give_the_same_scores_and_every_file() {
    let dir = tempfile::tempdir().unwrap();
    let hf = write_hf(&dir.path().join("hf"), 2, true);
    let gguf = dir.path().join("tiny.gguf");
    write_gguf(&gguf, 2, true, GgmlDType::F32);
    let out_hf = dir.path().join("eval-hf");
    let out_gguf = dir.path().join("eval-gguf");
    let r_hf = evaluate(&cfg(hf.clone(), "all"), &out_hf, false, false).unwrap();
    let r_gguf = evaluate(&cfg(gguf, "all"), &out_gguf, false, false).unwrap();
    assert_eq!(r_hf.associations.len(), 5);
    let mut want = vec![
        "config.json".to_string(),
        "results.json".into(),
        "results.md".into(),
    ];
    want.extend(ASSOCIATIONS.iter().map(|a| a.name.to_string()));
    want.sort();
    for out in [&out_hf, &out_gguf] {
        assert_eq!(entries(out), want);
        for a in &ASSOCIATIONS {
            let files = entries(&out.join(a.name));
            assert_eq!(
                files,
                ["meta.json", "scores.jsonl", "test.jsonl", "train.jsonl"]
            );
        }
        let md = std::fs::read_to_string(out.join("results.md")).unwrap();
        for needle in [
            "mean rank among the 2k candidates",
            "among the k implications only",
            "top answer is the true implication",
            "real-world implication",
            "Training subjects' implication",
            "Facts: mean rank among 2k",
            "Facts: mean rank among the k facts only",
            "Answer loss",
            "City-Lang (CF)",
        ] {
            assert!(md.contains(needle), "results.md lacks {needle:?}:\n{md}");
        }
        let back: EvalResults =
            serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap())
                .unwrap();
        assert_eq!(back.associations.len(), 5);
        let c: EvalConfig =
            serde_json::from_str(&std::fs::read_to_string(out.join("config.json")).unwrap())
                .unwrap();
        assert_eq!(c.eval_batch_size, 7);
    }
    // No staging folder is left beside the outputs.
    assert_eq!(
        entries(dir.path()),
        ["eval-gguf", "eval-hf", "hf", "tiny.gguf"]
    );
    let mut max_diff = 0.0f64;
    let mut n = 0;
    for a in &ASSOCIATIONS {
        let s_hf = scores(&out_hf.join(a.name).join("scores.jsonl"));
        let s_gg = scores(&out_gguf.join(a.name).join("scores.jsonl"));
        assert_eq!(
            s_hf.len(),
            40,
            "5 groups x 4 subjects x (fact, implication)"
        );
        assert_eq!(s_hf.len(), s_gg.len());
        for (x, y) in s_hf.iter().zip(&s_gg) {
            assert_eq!(
                (&x.subject, x.relation, x.answer_index),
                (&y.subject, y.relation, y.answer_index)
            );
            assert_eq!(x.lengths, y.lengths);
            for (p, q) in x.scores.iter().zip(&y.scores) {
                assert!(p.is_finite() && *p < 0.0);
                max_diff = max_diff.max((p - q).abs());
                n += 1;
            }
        }
    }
    assert_eq!(n, 5 * 40 * 10);
    assert!(max_diff < 1e-4, "HF vs GGUF scores differ by {max_diff}");
    for (a, b) in r_hf.associations.iter().zip(&r_gguf.associations) {
        assert!(
            (a.metrics.mean_rank - b.metrics.mean_rank).abs() < 1e-9,
            "{}",
            a.name
        );
        assert!(
            (a.metrics.fact_loss - b.metrics.fact_loss).abs() < 1e-4,
            "{}",
            a.name
        );
    }
    eprintln!(
        "HF vs GGUF: max |score diff| = {max_diff:.2e} over {n} candidate scores; mean ranks {:?}",
        r_hf.associations
            .iter()
            .map(|r| (r.name.as_str(), r.metrics.mean_rank))
            .collect::<Vec<_>>()
    );
}

#[test]
fn scores_are_a_runs_scores_before() {
    let dir = tempfile::tempdir().unwrap();
    let hf = write_hf(&dir.path().join("hf"), 4, false);
    let c = cfg(hf.clone(), "country-code");
    evaluate(&c, &dir.path().join("eval"), false, false).unwrap();
    let mut rc = RunConfig::defaults(hf, "country-code".into(), Method::Full);
    rc.dataset.group_size = c.dataset.group_size;
    rc.dataset.train_ratio = c.dataset.train_ratio;
    rc.seeds = vec![c.dataset.seed];
    rc.eval.batch_size = 5;
    rc.train.epochs = 1;
    run(&rc, &dir.path().join("run"), false).unwrap();
    let a = std::fs::read_to_string(dir.path().join("eval/country-code/scores.jsonl")).unwrap();
    let b = std::fs::read_to_string(
        dir.path()
            .join("run/country-code/seed-3/scores_before.jsonl"),
    )
    .unwrap();
    let (a, b): (Vec<RecordScores>, Vec<RecordScores>) = (
        a.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
        b.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    );
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.subject, y.subject);
        for (p, q) in x.scores.iter().zip(&y.scores) {
            assert!((p - q).abs() < 1e-4, "{p} vs {q}");
        }
    }
}

#[test]
fn bad_settings_are_refused_before_loading_or_writing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-model.gguf");
    // A non-empty --out is refused before the model is even looked at.
    let busy = dir.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("keep.txt"), "mine").unwrap();
    let e = evaluate(&cfg(missing.clone(), "all"), &busy, false, false).unwrap_err();
    assert!(
        matches!(&e, LlmError::Config { key, .. } if key == "out"),
        "{e}"
    );
    assert!(e.to_string().contains("--force"), "{e}");
    // So are a bad association, split and batch size; nothing is created.
    let out = dir.path().join("out");
    let e = evaluate(&cfg(missing.clone(), "city-langage"), &out, false, false).unwrap_err();
    assert!(e.to_string().contains("city-langage"), "{e}");
    let mut c = cfg(missing.clone(), "all");
    c.dataset.train_ratio = 1.5;
    let e = evaluate(&c, &out, false, false).unwrap_err();
    assert!(e.to_string().contains("train_ratio"), "{e}");
    let mut c = cfg(missing.clone(), "all");
    c.eval_batch_size = 0;
    let e = evaluate(&c, &out, false, false).unwrap_err();
    assert!(e.to_string().contains("eval_batch_size"), "{e}");
    // A model that does not open: the error names it, and no folder appears.
    let e = evaluate(&cfg(missing.clone(), "all"), &out, false, false).unwrap_err();
    assert!(e.to_string().contains("no-such-model.gguf"), "{e}");
    assert!(!out.exists());
    assert_eq!(entries(dir.path()), ["busy"]);
    // --force writes into the busy folder and leaves its other files alone.
    let hf = write_hf(&dir.path().join("hf"), 2, true);
    evaluate(&cfg(hf, "sport-music"), &busy, true, false).unwrap();
    assert_eq!(
        entries(&busy),
        [
            "config.json",
            "keep.txt",
            "results.json",
            "results.md",
            "sport-music"
        ]
    );
    assert_eq!(
        std::fs::read_to_string(busy.join("keep.txt")).unwrap(),
        "mine"
    );
}
