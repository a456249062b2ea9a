//! `oocr llm eval` refuses bad flags before opening the model or writing anything.

use std::process::Command;

fn oocr(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_oocr"))
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("runs")
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn eval_refuses_bad_flags_before_creating_anything() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("eval");
    let out_s = out.to_str().unwrap();
    let model = dir.path().join("missing.gguf");
    let model_s = model.to_str().unwrap();
    // Training flags mean nothing here: clap refuses them.
    let o = oocr(&[
        "llm", "eval", "--model", model_s, "--out", out_s, "--lora", "8",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("--lora"), "{}", stderr(&o));
    let o = oocr(&[
        "llm", "eval", "--model", model_s, "--out", out_s, "--assoc", "nope",
    ]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("'nope'"), "{}", stderr(&o));
    let o = oocr(&[
        "llm",
        "eval",
        "--model",
        model_s,
        "--out",
        out_s,
        "--train-ratio",
        "2",
    ]);
    assert!(stderr(&o).contains("train_ratio"), "{}", stderr(&o));
    let o = oocr(&[
        "llm",
        "eval",
        "--model",
        model_s,
        "--out",
        out_s,
        "--threads",
        "0",
    ]);
    assert!(stderr(&o).contains("--threads"), "{}", stderr(&o));
    let o = oocr(&["llm", "eval", "--model", model_s, "--out", out_s]);
    assert!(stderr(&o).contains("missing.gguf"), "{}", stderr(&o));
    assert!(!out.exists(), "no folder before the model opened");
    // A non-empty --out is refused (before the model is looked at) unless --force.
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("x"), "").unwrap();
    let o = oocr(&["llm", "eval", "--model", model_s, "--out", out_s]);
    assert!(stderr(&o).contains("--force"), "{}", stderr(&o));
    let o = oocr(&["llm", "eval", "--model", model_s, "--out", out_s, "--force"]);
    assert!(stderr(&o).contains("missing.gguf"), "{}", stderr(&o));
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(names.len(), 1, "no staging folder left behind");
}
