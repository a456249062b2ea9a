//! `oocr svm` end to end: the JSON keys other tools read, the safetensors solution, bad input.

use std::process::Command;

fn oocr() -> Command {
    Command::new(env!("CARGO_BIN_EXE_oocr"))
}

#[test]
fn writes_the_report_and_the_solution() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sub").join("nuclear.json");
    let st = oocr()
        .args([
            "svm",
            "--preset",
            "paper-factorized",
            "--norm",
            "nuclear",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for key in [
        "norm",
        "objective",
        "status",
        "iterations",
        "solve_s",
        "margin_train_min",
        "margin_test_vs_implications_min",
        "margin_test_vs_facts_min",
        "closed_form_test_margin",
        "certificate",
    ] {
        assert!(v.get(key).is_some(), "missing key {key}");
    }
    assert_eq!(v["norm"], "nuclear");
    assert_eq!(v["status"], "optimal");
    let m = v["margin_test_vs_implications_min"].as_f64().unwrap();
    let cf = v["closed_form_test_margin"].as_f64().unwrap();
    assert!((m - cf).abs() < 1e-9 && (cf - (1.0f64 / 3.0).sqrt()).abs() < 1e-15);
    assert!(v["certificate"]["rel_gap"].as_f64().unwrap().abs() < 1e-8);
    // The solution: one f64 tensor `w` of shape [40, 82].
    let bytes = std::fs::read(out.with_extension("safetensors")).unwrap();
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    assert_eq!(header["w"]["dtype"], "F64");
    assert_eq!(header["w"]["shape"], serde_json::json!([40, 82]));
    assert_eq!(bytes.len(), 8 + n + 40 * 82 * 8);
}

#[test]
fn frobenius_report_has_a_zero_test_margin() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("f.json");
    let st = oocr()
        .args([
            "svm",
            "--preset",
            "paper-nonfactorized",
            "--norm",
            "frobenius",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(st.success());
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(v["margin_test_vs_implications_min"].as_f64().unwrap().abs() < 1e-8);
    assert_eq!(v["closed_form_test_margin"], 0.0);
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--norm", "nuclear", "--set", "task.n=0"],
        vec!["--norm", "frobenius", "--method", "admm"],
        vec!["--norm", "nuclear", "--tol", "-1"],
    ] {
        let out = dir.path().join("x.json");
        let o = oocr()
            .args(["svm", "--preset", "paper-factorized", "--out"])
            .arg(&out)
            .args(&args)
            .output()
            .unwrap();
        assert!(!o.status.success(), "{args:?} should fail");
        assert!(!out.exists() && !out.with_extension("safetensors").exists());
    }
    let o = oocr()
        .args([
            "svm",
            "--preset",
            "paper-factorized",
            "--norm",
            "nuclear",
            "--out",
        ])
        .arg(dir.path().join("x.txt"))
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains(".json"));
}
