//! `oocr llm run` as a user runs it: run configs with `--set`, bad input refused before the
//! model is opened and before anything is written, and a run killed (SIGKILL) between
//! associations resumes, keeping the finished one. Uses the tiny random Llama of the oocr-llm
//! tests (no download).
use crate::common;

use candle_core::quantized::GgmlDType;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn oocr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oocr"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_settings_are_refused_before_the_model_opens_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let out_s = out.to_str().unwrap();
    let model = dir.path().join("missing.gguf");
    let model_s = model.to_str().unwrap();
    let cases: [(&[&str], &str); 14] = [
        (&["--lr", "0"], "optim.lr"),
        (&["--batch-size", "0"], "train.batch_size"),
        (&["--eval-batch-size", "0"], "eval.batch_size"),
        (&["--max-grad-norm", "nan"], "optim.max_grad_norm"),
        (&["--epochs", "1000000000"], "train.epochs"),
        (&["--threads", "100000"], "threads"),
        (&["--lora", "0"], "lora.rank"),
        (&["--lora", "4", "--lora-targets", "q,nope"], "lora.targets"),
        (&["--base-dtype", "bf16"], "base_dtype"),
        (&["--set", "bogus=1"], "bogus"),
        (&["--set", "optim.lrr=1"], "lrr"),
        (&["--assoc", "nope"], "'nope'"),
        (&["--train-ratio", "1"], "train_ratio"),
        (&["--seeds", "1,1"], "seeds"),
    ];
    for (extra, key) in cases {
        let mut args = vec!["llm", "run", "--model", model_s, "--out", out_s];
        args.extend_from_slice(extra);
        let o = oocr(&args);
        assert_eq!(o.status.code(), Some(1), "{extra:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(key), "{extra:?}: {}", stderr(&o));
        assert!(
            !stderr(&o).contains("missing.gguf"),
            "checked before the model: {}",
            stderr(&o)
        );
    }
    // clap refuses what does not parse as a number.
    let o = oocr(&[
        "llm", "run", "--model", model_s, "--out", out_s, "--epochs", "1e9",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    // A config file with an unknown key, and one bad association file.
    let cfg = dir.path().join("run.toml");
    std::fs::write(&cfg, format!("model = \"{model_s}\"\n[train]\nepoch = 3\n")).unwrap();
    let o = oocr(&[
        "llm",
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--out",
        out_s,
    ]);
    assert!(stderr(&o).contains("epoch"), "{}", stderr(&o));
    let bad = dir.path().join("mine.toml");
    std::fs::write(
        &bad,
        "[[association]]\nname = \"mine\"\ncausal = false\nfact_template = \"{name} has\"\n\
         implication_template = \"She likes\"\npairs = [[\"a\", \"b\"], [\"c\", \"d\"]]\n",
    )
    .unwrap();
    let o = oocr(&[
        "llm",
        "run",
        "--model",
        model_s,
        "--out",
        out_s,
        "--assoc-file",
        bad.to_str().unwrap(),
    ]);
    let e = stderr(&o);
    assert!(
        e.contains("mine.toml") && e.contains("`mine`") && e.contains("implication_template"),
        "{e}"
    );
    // A missing model: the error names it, and no folder is left.
    let o = oocr(&["llm", "run", "--model", model_s, "--out", out_s]);
    assert!(stderr(&o).contains("missing.gguf"), "{}", stderr(&o));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 2, "only run.toml and mine.toml");
    assert!(!out.exists());
}

fn wait_for(path: &Path, child: &mut std::process::Child, limit: Duration) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if path.exists() {
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return path.exists();
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    false
}

#[test]
fn a_killed_run_resumes_association_by_association() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("tiny.gguf");
    common::write_gguf(&model, 3, true, GgmlDType::F32);
    let out = dir.path().join("run");
    let cfg = dir.path().join("run.toml");
    std::fs::write(
        &cfg,
        format!(
            "model = \"{}\"\nassoc = \"city-language,country-code\"\n[train]\nepochs = 60\n\
             [dataset]\ngroup_size = 4\ntrain_ratio = 0.25\n",
            model.display()
        ),
    )
    .unwrap();
    let args = [
        "llm",
        "run",
        "--config",
        cfg.to_str().unwrap(),
        "--set",
        "optim.lr=3e-4",
        "--out",
        out.to_str().unwrap(),
    ];
    let mut child = Command::new(env!("CARGO_BIN_EXE_oocr"))
        .args(args)
        .arg("--quiet")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let first = out.join("city-language/seed-0/result.json");
    assert!(
        wait_for(&first, &mut child, Duration::from_secs(300)),
        "the first association never finished"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(
        !out.join("results.json").exists(),
        "the run was killed before its second association finished"
    );
    let kept = std::fs::read_to_string(&first).unwrap();
    // The resolved config is in the folder; the rerun resumes without --force.
    let resolved = std::fs::read_to_string(out.join("config.toml")).unwrap();
    assert!(
        resolved.contains("lr = 0.0003") && resolved.contains("epochs = 60"),
        "{resolved}"
    );
    let o = oocr(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("finished before, kept"),
        "{}",
        stderr(&o)
    );
    assert_eq!(std::fs::read_to_string(&first).unwrap(), kept);
    let res: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(res["associations"].as_array().unwrap().len(), 2);
    assert_eq!(res["summary"][1]["name"], "country-code");
    for f in ["rank_per_epoch.png", "rank_per_epoch.svg", "results.md"] {
        assert!(out.join(f).exists(), "{f}");
    }
    // Other settings into the same folder: refused, naming the key and --force; nothing changed.
    let before = std::fs::read_to_string(out.join("results.json")).unwrap();
    let mut other: Vec<&str> = args.to_vec();
    other.extend(["--epochs", "61"]);
    let o = oocr(&other);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("train.epochs") && stderr(&o).contains("--force"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        std::fs::read_to_string(out.join("results.json")).unwrap(),
        before
    );
}
