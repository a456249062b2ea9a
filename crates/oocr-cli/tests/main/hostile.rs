//! Hostile input, as a user would type it: every case is refused with a non-zero exit before any
//! work, names the offending key or file, creates no output folder, and neither panics nor prints
//! a backtrace (RUST_BACKTRACE=1 is set for every call).

use std::path::Path;
use std::process::{Command, Output};

fn oocr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oocr"))
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts a clean refusal: exit 1, `needles` in the message, no panic, no backtrace.
fn refused(o: &Output, needles: &[&str]) {
    let e = stderr(o);
    assert_eq!(o.status.code(), Some(1), "exit {:?}: {e}", o.status);
    assert!(e.starts_with("error: "), "{e}");
    for n in needles {
        assert!(e.contains(n), "`{e}` lacks `{n}`");
    }
    for bad in [
        "panicked",
        "backtrace",
        "RUST_BACKTRACE",
        "memory allocation",
    ] {
        assert!(!e.contains(bad), "`{e}` contains `{bad}`");
    }
}

#[test]
fn oversized_and_overflowing_sizes_are_refused_before_any_folder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("X");
    let x = out.to_str().unwrap();
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "task",
            "task.m_train=9223372036854775807",
            &["task.m_train", "vocabulary"],
        ),
        (
            "task",
            "task.n=4611686018427387904",
            &["task.n", "vocabulary"],
        ),
        (
            "train",
            "model.d_h=100000000",
            &["model.d_h", "GiB", "limit"],
        ),
        (
            "train",
            "model.d_h=9223372036854775807",
            &["model.d_h", "limit"],
        ),
        ("train", "model.d=1000000", &["model.d", "limit"]),
        (
            "train",
            "task.seq_len=1000000000000 task.noise_tokens=2",
            &["task.seq_len", "limit"],
        ),
        (
            "train",
            "task.noise_tokens=100000000",
            &["task.noise_tokens"],
        ),
        (
            "train",
            "train.steps=9223372036854775807",
            &["train.steps", "limit"],
        ),
        ("train", "task.n=-1", &["task.n"]),
        ("svm", "task.n=4611686018427387904", &["task.n"]),
    ];
    for (cmd, set, needles) in cases {
        let mut args = vec![*cmd, "--preset", "paper-factorized"];
        for s in set.split(' ') {
            args.extend(["--set", s]);
        }
        if *cmd == "svm" {
            args.extend(["--norm", "nuclear"]);
        }
        let target = if *cmd == "svm" {
            dir.path().join("X.json")
        } else {
            out.clone()
        };
        args.extend(["--out", target.to_str().unwrap()]);
        let o = oocr(&args);
        refused(&o, needles);
        assert!(
            !target.exists(),
            "{cmd} --set {set} created {}",
            target.display()
        );
    }
    assert!(!Path::new(x).exists());
}

#[test]
fn set_values_cannot_smuggle_toml() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("X");
    let o = oocr(&[
        "train",
        "--preset",
        "paper-factorized",
        "--set",
        "train.lr=0.5\n[foo]\nx=1",
        "--out",
        out.to_str().unwrap(),
    ]);
    refused(&o, &["--set", "control character"]);
    assert!(!out.exists());
}

#[test]
fn config_files_are_capped_and_parse_errors_have_a_position() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("X");
    let x = out.to_str().unwrap();
    let o = oocr(&["train", "--config", "/dev/zero", "--out", x]);
    refused(&o, &["/dev/zero", "larger than"]);
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[train]\nlr = 0.5\nsteps = = 3\n").unwrap();
    let o = oocr(&["train", "--config", bad.to_str().unwrap(), "--out", x]);
    refused(&o, &["bad.toml", "line 3, column"]);
    std::fs::write(&bad, "[[task]]\nn = 3\n").unwrap();
    let o = oocr(&["train", "--config", bad.to_str().unwrap(), "--out", x]);
    refused(&o, &["`task`", "array of tables"]);
    assert!(!out.exists());
}

#[test]
fn bench_and_jobs_bounds() {
    let o = oocr(&["bench", "--steps", "0"]);
    refused(&o, &["--steps"]);
    assert!(o.stdout.is_empty(), "bench printed a table for 0 steps");
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("g.toml");
    std::fs::write(
        &grid,
        "preset = \"paper-factorized\"\n[grid]\n\"task.n\" = [2, 3]\n",
    )
    .unwrap();
    let out = dir.path().join("sweep");
    for jobs in ["100000", "3000", "0"] {
        let o = oocr(&[
            "sweep",
            "--grid",
            grid.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--jobs",
            jobs,
        ]);
        refused(&o, &["--jobs"]);
        assert!(!out.exists());
    }
}

#[test]
fn svm_keeps_existing_files_and_rejects_ignored_flags() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("s.json");
    std::fs::write(&json, "mine").unwrap();
    // A user's file named like the old fixed temporary must survive too.
    std::fs::write(dir.path().join("s.json.tmp"), "mine too").unwrap();
    let base = [
        "svm",
        "--preset",
        "paper-factorized",
        "--set",
        "task.n=4",
        "--norm",
        "nuclear",
        "--out",
        json.to_str().unwrap(),
    ];
    let o = oocr(&base);
    refused(&o, &["s.json", "--force"]);
    assert_eq!(std::fs::read_to_string(&json).unwrap(), "mine");
    let mut with_iter = base.to_vec();
    with_iter.extend(["--force", "--max-iter", "10"]);
    refused(&oocr(&with_iter), &["--max-iter", "auto"]);
    let mut forced = base.to_vec();
    forced.push("--force");
    let o = oocr(&forced);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(std::fs::read_to_string(&json)
        .unwrap()
        .contains("objective"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("s.json.tmp")).unwrap(),
        "mine too"
    );
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "temporaries left behind: {names:?}");
}
