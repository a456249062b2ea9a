//! End-to-end tests of the `oocr` binary: runs, run folders, and refusals of bad input.

use std::process::Command;

fn oocr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_oocr"))
        .args(args)
        .output()
        .expect("runs")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn train_writes_a_complete_run_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let o = oocr(&[
        "train",
        "--preset",
        "paper-factorized",
        "--set",
        "task.n=5",
        "--set",
        "train.steps=200",
        "--set",
        "train.log_every=50",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("test accuracy"));
    let lines = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), 5);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    for key in [
        "train_loss",
        "test_loss",
        "test_accuracy",
        "test_mean_rank",
        "loss_train_facts",
        "loss_train_implications",
        "loss_test_facts",
        "loss_test_implications",
        "margin_train_min",
        "margin_test_vs_implications_min",
        "margin_test_vs_facts_min",
        "nuclear_norm",
        "frobenius_norm",
        "rank",
    ] {
        assert!(
            summary["final"].get(key).is_some(),
            "summary.final lacks {key}"
        );
    }
    assert_eq!(summary["config"]["task"]["n"], 5);
    let cfg = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(cfg.contains("[train]") && cfg.contains("steps = 200"));
    // The resolved config reruns to the same result.
    let out2 = dir.path().join("rerun");
    let o = oocr(&[
        "train",
        "--config",
        out.join("config.toml").to_str().unwrap(),
        "--out",
        out2.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let s2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out2.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["final"], s2["final"]);
}

#[test]
fn bad_input_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("never");
    let cases: &[(&[&str], &str)] = &[
        (&["--set", "task.n=0"], "task.n"),
        (
            &["--set", "task.m_train=0", "--set", "task.m_test=0"],
            "task.m_train",
        ),
        (&["--set", "train.lr=0"], "train.lr"),
        (&["--set", "train.lr=fast"], "train.lr"),
        (&["--set", "model.d_h=0"], "model.d_h"),
        (&["--set", "model.d=64"], "model.d"),
        (&["--set", "train.lrr=1"], "lrr"),
        (&["--set", "nonsense"], "section.key"),
    ];
    for (sets, needle) in cases {
        let mut args = vec!["train", "--preset", "paper-factorized"];
        args.extend_from_slice(sets);
        args.extend_from_slice(&["--out", out.to_str().unwrap()]);
        let o = oocr(&args);
        assert!(!o.status.success(), "{sets:?} accepted");
        assert!(stderr(&o).contains(needle), "{sets:?}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
        assert!(!out.exists(), "{sets:?} left a run folder");
    }
    let o = oocr(&["train", "--preset", "nope", "--out", out.to_str().unwrap()]);
    assert!(stderr(&o).contains("unknown preset"));
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[model]\nparam = \"factorized\"\nheads = 2\n").unwrap();
    let o = oocr(&[
        "train",
        "--config",
        bad.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        !o.status.success() && stderr(&o).contains("heads"),
        "{}",
        stderr(&o)
    );
    let o = oocr(&[
        "train",
        "--config",
        "/no/such/file.toml",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success() && stderr(&o).contains("/no/such/file.toml"));
    assert!(!out.exists());
}

#[test]
fn divergence_stops_with_a_clear_error_and_keeps_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("div");
    let o = oocr(&[
        "train",
        "--preset",
        "paper-factorized",
        "--set",
        "task.n=4",
        "--set",
        "train.lr=1e8",
        "--set",
        "train.init_scale=1",
        "--set",
        "train.log_every=1",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("diverged"), "{}", stderr(&o));
    assert!(out.join("metrics.jsonl").exists());
    assert!(
        std::fs::read_to_string(out.join("metrics.jsonl"))
            .unwrap()
            .lines()
            .count()
            >= 1
    );
    assert!(!out.join("summary.json").exists());
}

#[test]
fn existing_run_folder_needs_force() {
    let dir = tempfile::tempdir().unwrap();
    let args = |force: bool| {
        let mut a = vec![
            "train",
            "--preset",
            "paper-factorized",
            "--set",
            "task.n=3",
            "--set",
            "train.steps=5",
        ];
        a.extend_from_slice(&["--out", dir.path().to_str().unwrap()]);
        if force {
            a.push("--force");
        }
        a.into_iter().map(String::from).collect::<Vec<_>>()
    };
    std::fs::write(dir.path().join("keep.txt"), "x").unwrap();
    let run = |a: Vec<String>| {
        Command::new(env!("CARGO_BIN_EXE_oocr"))
            .args(&a)
            .output()
            .unwrap()
    };
    let o = run(args(false));
    assert!(!o.status.success() && stderr(&o).contains("--force"));
    assert!(run(args(true)).status.success());
}

#[test]
fn task_and_presets_commands() {
    let dir = tempfile::tempdir().unwrap();
    let o = oocr(&[
        "task",
        "--preset",
        "paper-factorized",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let vocab: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("vocab.json")).unwrap())
            .unwrap();
    assert_eq!(vocab.as_object().unwrap().len(), 123);
    let count = |f: &str| {
        std::fs::read_to_string(dir.path().join(f))
            .unwrap()
            .lines()
            .count()
    };
    assert_eq!(count("train_facts.jsonl"), 20);
    assert_eq!(count("train_implications.jsonl"), 20);
    assert_eq!(count("test_facts.jsonl"), 60);
    assert_eq!(count("test_implications.jsonl"), 60);
    let o = oocr(&["presets"]);
    let text = String::from_utf8_lossy(&o.stdout);
    for p in [
        "paper-factorized",
        "paper-nonfactorized",
        "authors-code",
        "theorem2",
    ] {
        assert!(text.contains(p), "{p} missing");
    }
}
