//! `oocr sweep` and `oocr aggregate` end to end: bad grids and shards are refused before any run,
//! a sweep resumes (also after a SIGKILL midway), a failing point makes the exit status non-zero after the others finished.

use std::path::Path;
use std::process::{Command, Output};

fn oocr(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_oocr"))
        .args(args)
        .output()
        .expect("runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A grid of 4 points (2 learning rates × 2 seeds) on a 4-pair task; `extra` adds grid keys.
fn write_grid(dir: &Path, extra: &str) -> String {
    let grid = dir.join("grid.toml");
    std::fs::write(
        &grid,
        format!(
            "preset = \"paper-factorized\"\nseeds = [0, 1]\n[grid]\n\"task.n\" = [4]\n\
             \"train.steps\" = [30]\n\"train.log_every\" = [10]\n{extra}"
        ),
    )
    .unwrap();
    grid.to_str().unwrap().to_string()
}

#[test]
fn bad_grids_and_shards_are_refused_before_any_run() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let out_s = out.to_str().unwrap();
    let grid = write_grid(dir.path(), "\"train.lr\" = [0.5, 1.0]\n");
    for (shard, needle) in [("0/2", "0/2"), ("3/2", "3/2"), ("x", "`x`")] {
        let o = oocr(&["sweep", "--grid", &grid, "--out", out_s, "--shard", shard]);
        assert!(!o.status.success());
        assert!(text(&o).contains(needle), "{}", text(&o));
    }
    let bad = write_grid(dir.path(), "\"train.lr\" = []\n");
    let o = oocr(&["sweep", "--grid", &bad, "--out", out_s]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("`train.lr` has an empty list"),
        "{}",
        text(&o)
    );
    let bad = write_grid(dir.path(), "\"train.lr\" = [0.5, -1]\n");
    let o = oocr(&["sweep", "--grid", &bad, "--out", out_s]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("point 2 (") && text(&o).contains("config key `train.lr`"),
        "{}",
        text(&o)
    );
    assert!(!out.exists(), "nothing is written for a refused sweep");
}

#[test]
fn sweep_resumes_and_aggregate_writes_csv_and_markdown() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let out_s = out.to_str().unwrap();
    let grid = write_grid(dir.path(), "\"train.lr\" = [0.5, 1.0]\n");
    let o = oocr(&[
        "sweep", "--grid", &grid, "--out", out_s, "--shard", "2/3", "--jobs", "1",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("1 done, 0 skipped, 0 failed"),
        "{}",
        text(&o)
    );
    let o = oocr(&["sweep", "--grid", &grid, "--out", out_s]);
    assert!(
        text(&o).contains("3 done, 1 skipped, 0 failed"),
        "{}",
        text(&o)
    );
    let (csv, md) = (dir.path().join("r.csv"), dir.path().join("r.md"));
    let o = oocr(&[
        "aggregate",
        out_s,
        "--out",
        csv.to_str().unwrap(),
        "--out",
        md.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let csv = std::fs::read_to_string(csv).unwrap();
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("train.lr,runs,failed,seeds,train_loss_mean"));
    assert!(csv.lines().nth(1).unwrap().starts_with("0.5,2,0,0 1,"));
    assert!(std::fs::read_to_string(md).unwrap().contains(" ± "));
    let o = oocr(&["aggregate", out_s, "--out", "r.txt"]);
    assert!(!o.status.success() && text(&o).contains("r.txt"));
}

#[test]
fn a_failing_point_fails_the_command_after_the_others_finish() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    // lr 1e8 with unit-scale init diverges within a few steps; lr 0.5 trains normally.
    let grid = dir.path().join("div.toml");
    std::fs::write(
        &grid,
        "preset = \"paper-factorized\"\nseeds = [0, 1]\n[grid]\n\"task.n\" = [4]\n\
         \"train.lr\" = [0.5, 1e8]\n\"train.init_scale\" = [1.0]\n\"train.steps\" = [30]\n\
         \"train.log_every\" = [1]\n",
    )
    .unwrap();
    let o = oocr(&[
        "sweep",
        "--grid",
        grid.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("2 done, 0 skipped, 2 failed"), "{t}");
    assert!(t.contains("diverged"), "{t}");
}

#[test]
fn a_sweep_killed_midway_completes_on_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let out_s = out.to_str().unwrap();
    // 8 points of a few hundred milliseconds each, one at a time.
    let grid = dir.path().join("long.toml");
    std::fs::write(
        &grid,
        "preset = \"paper-factorized\"\nseeds = [0, 1]\n[grid]\n\"task.n\" = [6]\n\
         \"train.lr\" = [0.25, 0.5, 0.75, 1.0]\n\"train.steps\" = [4000]\n\
         \"train.log_every\" = [1000]\n",
    )
    .unwrap();
    let grid_s = grid.to_str().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_oocr"))
        .args(["sweep", "--grid", grid_s, "--out", out_s, "--jobs", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill it (SIGKILL: no clean-up) as soon as the first point is done.
    let log = out.join("points.jsonl");
    let t0 = std::time::Instant::now();
    while !std::fs::read_to_string(&log).is_ok_and(|s| s.contains("\"status\":\"done\"")) {
        assert!(t0.elapsed().as_secs() < 120, "no point finished in 120 s");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let finished = |dir: &Path| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().join("summary.json").exists())
            .count()
    };
    let before = finished(&out);
    assert!(
        (1..8).contains(&before),
        "killed with {before} of 8 points finished"
    );
    let o = oocr(&["sweep", "--grid", grid_s, "--out", out_s]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("{} done, {before} skipped, 0 failed", 8 - before)),
        "{}",
        text(&o)
    );
    assert_eq!(finished(&out), 8);
    let o = oocr(&["sweep", "--grid", grid_s, "--out", out_s]);
    assert!(
        text(&o).contains("0 done, 8 skipped, 0 failed"),
        "{}",
        text(&o)
    );
}

/// Checks every point folder of a finished sweep: one `done` line per point across all logs,
/// a whole summary.json, and metrics.jsonl lines that all parse (no NUL bytes, no interleaving).
fn check_trained_once(out: &Path, points: usize, lines_per_run: usize) {
    let log = std::fs::read_to_string(out.join("points.jsonl")).unwrap();
    let mut done = vec![0; points];
    for line in log.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["status"] == "done" {
            done[v["index"].as_u64().unwrap() as usize] += 1;
        }
    }
    assert!(done.iter().all(|&c| c == 1), "done counts {done:?}\n{log}");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    for p in manifest["points"].as_array().unwrap() {
        let dir = out.join(p["folder"].as_str().unwrap());
        let summary = std::fs::read_to_string(dir.join("summary.json")).unwrap();
        serde_json::from_str::<serde_json::Value>(&summary).unwrap();
        let metrics = std::fs::read(dir.join("metrics.jsonl")).unwrap();
        assert!(!metrics.contains(&0), "NUL bytes in {}", dir.display());
        let text = String::from_utf8(metrics).unwrap();
        assert_eq!(text.lines().count(), lines_per_run, "{text}");
        for l in text.lines() {
            serde_json::from_str::<serde_json::Value>(l).unwrap();
        }
    }
}

#[test]
fn two_sweeps_on_one_folder_train_each_point_once() {
    let dir = tempfile::tempdir().unwrap();
    let grid = dir.path().join("g.toml");
    std::fs::write(
        &grid,
        "preset = \"paper-factorized\"\nseeds = [0, 1, 2]\n[grid]\n\"task.n\" = [4]\n\
         \"train.lr\" = [0.5, 1.0]\n\"train.steps\" = [300]\n\"train.log_every\" = [100]\n",
    )
    .unwrap();
    for round in 0..20 {
        let out = dir.path().join(format!("sweep{round}"));
        let spawn = || {
            Command::new(env!("CARGO_BIN_EXE_oocr"))
                .args(["sweep", "--grid", grid.to_str().unwrap()])
                .args(["--out", out.to_str().unwrap(), "--jobs", "2"])
                .output()
        };
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(spawn);
            let b = s.spawn(spawn);
            (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
        });
        assert!(a.status.success(), "{}", text(&a));
        assert!(b.status.success(), "{}", text(&b));
        check_trained_once(&out, 6, 4);
        // Both report all six points, finished here or by the other process.
        for o in [&a, &b] {
            let t = text(o);
            let counts = t
                .lines()
                .find(|l| l.starts_with("shard 1/1:"))
                .unwrap_or_else(|| panic!("{t}"));
            let n: Vec<usize> = counts
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|x| x.parse().ok())
                .collect();
            assert_eq!(n[2] + n[3], 6, "{counts}");
        }
    }
}

#[test]
fn a_corrupt_summary_is_not_taken_as_finished() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sweep");
    let out_s = out.to_str().unwrap();
    let grid = write_grid(dir.path(), "");
    let o = oocr(&["sweep", "--grid", &grid, "--out", out_s]);
    assert!(o.status.success(), "{}", text(&o));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    let folders: Vec<&str> = manifest["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["folder"].as_str().unwrap())
        .collect();
    // Truncated JSON, and a whole file of another config.
    let s0 = out.join(folders[0]).join("summary.json");
    let whole = std::fs::read_to_string(&s0).unwrap();
    std::fs::write(&s0, &whole[..whole.len() / 2]).unwrap();
    std::fs::write(
        out.join(folders[1]).join("summary.json"),
        "{\"steps\": 30}\n",
    )
    .unwrap();
    let o = oocr(&["sweep", "--grid", &grid, "--out", out_s]);
    assert!(
        text(&o).contains("2 done, 0 skipped, 0 failed"),
        "{}",
        text(&o)
    );
    // Retrained to the same numbers (runs are deterministic).
    let before: serde_json::Value = serde_json::from_str(&whole).unwrap();
    let after: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&s0).unwrap()).unwrap();
    assert_eq!(before["final"], after["final"]);
}
