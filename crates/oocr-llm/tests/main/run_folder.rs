//! `run_with` end to end on the tiny random Llama of `common`: a user's association with k = 3
//! pairs, several seeds with intervals and the test against chance, rank per epoch, resume
//! association by association, and refusals before anything is written.
use crate::common::*;
use candle_core::quantized::GgmlDType;
use oocr_llm::experiment::{run_with, RunOptions, RunResults};
use oocr_llm::lora::{LoraConfig, Method};
use oocr_llm::run_config::RunConfig;
use std::path::{Path, PathBuf};

const PETS: &str = r#"
[[association]]
name = "pet-color"
title = "Pet-Color"
causal = false
fact_template = "{name} owns a"
implication_template = "{name} likes"
pairs = [["cat", "red"], ["dog", "blue"], ["owl", "green"]]
"#;

fn setup(dir: &Path) -> (PathBuf, PathBuf) {
    let gguf = dir.join("tiny.gguf");
    write_gguf(&gguf, 5, true, GgmlDType::F32);
    let pets = dir.join("pets.toml");
    std::fs::write(&pets, PETS).unwrap();
    (gguf, pets)
}

fn small(model: PathBuf, assoc: &str, pets: &Path) -> RunConfig {
    let mut c = RunConfig::defaults(model, assoc.into(), Method::Full);
    c.assoc_files = vec![pets.to_path_buf()];
    c.train.epochs = 2;
    c.dataset.group_size = 4;
    c.dataset.train_ratio = 0.25;
    c.eval.batch_size = 7;
    c
}

fn opts() -> RunOptions {
    RunOptions {
        force: false,
        progress: false,
    }
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn seeds_intervals_rank_per_epoch_and_k3() {
    let dir = tempfile::tempdir().unwrap();
    let (gguf, pets) = setup(dir.path());
    let mut cfg = small(gguf, "pet-color,city-language", &pets);
    cfg.seeds = vec![0, 1];
    let out = dir.path().join("run");
    let res = run_with(&cfg, &out, opts()).unwrap();
    assert_eq!(res.associations.len(), 4, "2 associations x 2 seeds");
    assert_eq!(res.summary.len(), 2);
    let pet = &res.summary[0];
    assert_eq!(
        (pet.name.as_str(), pet.k, pet.seeds.clone()),
        ("pet-color", 3, vec![0, 1])
    );
    assert_eq!(pet.test_after.chance, 1.0, "(k - 1)/2 for k = 3");
    assert_eq!(res.summary[1].test_after.chance, 2.0);
    for a in &res.summary {
        for iv in [a.mean_rank_after, a.within_rank_after, a.top1_after] {
            assert!(iv.lo <= iv.mean && iv.mean <= iv.hi, "{iv:?}");
        }
        assert!(a.test_after.p_value > 0.0 && a.test_after.p_value <= 1.0);
        assert_eq!(a.link_learned, a.test_after.p_value < 0.05);
    }
    // The mean over seeds is the mean of the per-seed measures.
    let per_seed: Vec<f64> = res
        .associations
        .iter()
        .filter(|r| r.name == "pet-color")
        .map(|r| r.after.mean_rank_among_implications)
        .collect();
    assert!((pet.within_rank_after.mean - (per_seed[0] + per_seed[1]) / 2.0).abs() < 1e-12);
    for r in &res.associations {
        assert_eq!(r.per_epoch.len(), 3, "before + 2 epochs");
        assert_eq!(r.per_epoch[0].metrics, r.before);
        assert_eq!(
            r.per_epoch[2].metrics, r.after,
            "the last epoch's evaluation is 'after'"
        );
        let unit = out.join(&r.name).join(format!("seed-{}", r.seed));
        let metrics = read(&unit.join("metrics.jsonl"));
        let evals = metrics
            .lines()
            .filter(|l| l.contains("\"event\":\"eval\""))
            .count();
        assert_eq!(evals, 3);
        for f in [
            "result.json",
            "scores_before.jsonl",
            "scores_after.jsonl",
            "meta.json",
            "train.jsonl",
        ] {
            assert!(unit.join(f).exists(), "{f}");
        }
    }
    // Seeds change the subjects.
    let a = read(&out.join("pet-color/seed-0/test.jsonl"));
    let b = read(&out.join("pet-color/seed-1/test.jsonl"));
    assert_ne!(a, b);
    let md = read(&out.join("results.md"));
    for needle in [
        "| Pet-Color | City-Lang |",
        "link learned (p < 0.05)",
        "| chance | 1.00 | 2.00 |",
        "per epoch",
    ] {
        assert!(md.contains(needle), "results.md lacks {needle:?}:\n{md}");
    }
    let back: RunResults = serde_json::from_str(&read(&out.join("results.json"))).unwrap();
    assert_eq!(back.summary.len(), 2);
    let c = RunConfig::from_toml_str(&read(&out.join("config.toml")), "config.toml").unwrap();
    assert_eq!(c, cfg, "config.toml is the resolved config");
}

#[test]
fn resume_keeps_finished_associations_and_refuses_other_settings() {
    let dir = tempfile::tempdir().unwrap();
    let (gguf, pets) = setup(dir.path());
    let out = dir.path().join("run");
    let mut cfg = small(gguf.clone(), "pet-color", &pets);
    cfg.eval.per_epoch = false;
    run_with(&cfg, &out, opts()).unwrap();
    let first = read(&out.join("pet-color/seed-0/result.json"));
    // As after a run killed between associations: more associations, same settings.
    let mut more = cfg.clone();
    more.assoc = "pet-color,country-code".into();
    more.threads = Some(1);
    let res = run_with(&more, &out, opts()).unwrap();
    assert_eq!(res.associations.len(), 2);
    assert_eq!(
        read(&out.join("pet-color/seed-0/result.json")),
        first,
        "kept, not rerun"
    );
    assert!(out.join("country-code/seed-0/result.json").exists());
    assert!(res.associations[0].per_epoch.is_empty());
    // A half-written association (no result.json) is run again.
    std::fs::remove_file(out.join("country-code/seed-0/result.json")).unwrap();
    let res = run_with(&more, &out, opts()).unwrap();
    assert_eq!(res.associations.len(), 2);
    assert!(out.join("country-code/seed-0/result.json").exists());
    // Other settings: refused before the model is opened, nothing touched.
    let config = read(&out.join("config.toml"));
    let results = read(&out.join("results.json"));
    let mut other = more.clone();
    other.optim.lr = 1e-3;
    let e = run_with(&other, &out, opts()).unwrap_err().to_string();
    assert!(e.contains("optim.lr") && e.contains("--force"), "{e}");
    assert_eq!(read(&out.join("config.toml")), config);
    assert_eq!(read(&out.join("results.json")), results);
    // An edited association file changes that association's settings: it is run again.
    std::fs::write(
        &pets,
        PETS.replace("\"owl\", \"green\"", "\"owl\", \"pink\""),
    )
    .unwrap();
    run_with(&more, &out, opts()).unwrap();
    assert_ne!(read(&out.join("pet-color/seed-0/result.json")), first);
    // --force replaces.
    let forced = run_with(
        &other,
        &out,
        RunOptions {
            force: true,
            progress: false,
        },
    )
    .unwrap();
    assert_eq!(forced.associations[0].lr, 1e-3);
}

#[test]
fn bad_input_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let (gguf, pets) = setup(dir.path());
    let out = dir.path().join("run");
    // A missing model: no folder.
    let cfg = small(dir.path().join("missing.gguf"), "pet-color", &pets);
    let e = run_with(&cfg, &out, opts()).unwrap_err().to_string();
    assert!(e.contains("missing.gguf"), "{e}");
    assert!(!out.exists());
    // A LoRA rank above the model's width (32), found once the model is open: no folder.
    let mut cfg = RunConfig::defaults(
        gguf.clone(),
        "pet-color".into(),
        Method::Lora(LoraConfig::new(33)),
    );
    cfg.assoc_files = vec![pets.clone()];
    let e = run_with(&cfg, &out, opts()).unwrap_err().to_string();
    assert!(e.contains("lora.rank") && e.contains("32"), "{e}");
    assert!(!out.exists());
    // Settings checked before loading: a bad learning rate on a missing model names the key.
    let mut cfg = small(dir.path().join("missing.gguf"), "pet-color", &pets);
    cfg.optim.lr = 0.0;
    let e = run_with(&cfg, &out, opts()).unwrap_err().to_string();
    assert!(e.contains("optim.lr"), "{e}");
    cfg.optim.lr = 1e-4;
    cfg.eval.batch_size = 0;
    let e = run_with(&cfg, &out, opts()).unwrap_err().to_string();
    assert!(e.contains("eval.batch_size"), "{e}");
    // An association file with too few names for the groups.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        PETS.replace("pairs =", "names = [\"A B\", \"C D\", \"E F\"]\npairs ="),
    )
    .unwrap();
    let mut cfg = small(gguf.clone(), "pet-color", &bad);
    cfg.eval.batch_size = 4;
    let e = run_with(&cfg, &out, opts()).unwrap_err().to_string();
    assert!(
        e.contains("bad.toml") && e.contains("pet-color") && e.contains("`names`"),
        "{e}"
    );
    assert!(!out.exists());
    // A folder with someone else's files needs --force.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "mine").unwrap();
    let e = run_with(&small(gguf, "pet-color", &pets), &out, opts())
        .unwrap_err()
        .to_string();
    assert!(e.contains("--force"), "{e}");
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), 1);
}
