//! Run folders: `config.toml` (resolved), `metrics.jsonl` (one line per logged step, flushed),
//! `w_ov.csv` (the learned W_OV[answers, subjects ∪ {r1, r2}]) and `summary.json` (written last,
//! atomically, so its presence marks a finished run).

pub use crate::atomic::{write_atomic, write_json};
use crate::config::Config;
use crate::csv_table::{csv_text, num_cell};
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::task::Task;
use crate::train::{Observer, Outcome, Record};
use serde::Serialize;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// `summary.json` of a finished run.
#[derive(Debug, Clone, Serialize)]
pub struct Summary<'a> {
    /// The resolved config, same sections as `config.toml`.
    pub config: &'a Config,
    /// Optimizer steps taken.
    pub steps: usize,
    /// Wall-clock seconds of training.
    pub elapsed_s: f64,
    /// Metrics after the last step.
    #[serde(rename = "final")]
    pub final_metrics: &'a Metrics,
}

/// An open run folder.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    metrics: BufWriter<File>,
}

/// Row and column names of `Model::w_answers_context`: the answers (b_1..b_n, c_1..c_n) and the
/// context tokens (subjects, r1, r2), as `Task::token_name` spells them.
pub fn w_ov_labels(task: &Task) -> (Vec<String>, Vec<String>) {
    let rows = task.answers().map(|a| task.token_name(a)).collect();
    let cols = (0..=task.r2()).map(|z| task.token_name(z)).collect();
    (rows, cols)
}

/// `w_ov.csv`: a header `answer,<context token names>`, then one row per answer with its name and
/// the values at full (round-trip) precision.
pub fn w_ov_csv(task: &Task, w: faer::MatRef<'_, f64>) -> String {
    let (rows, cols) = w_ov_labels(task);
    let mut header = vec!["answer".to_string()];
    header.extend(cols);
    let cells: Vec<Vec<String>> = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let mut row = vec![r];
            row.extend((0..w.ncols()).map(|j| num_cell(w[(i, j)])));
            row
        })
        .collect();
    csv_text(&header, &cells)
}

impl RunDir {
    /// Creates the folder and writes `config.toml`. An existing non-empty folder is refused
    /// unless `overwrite`, in which case its run files are replaced.
    pub fn create(path: &Path, cfg: &Config, overwrite: bool) -> Result<RunDir> {
        if path.exists() {
            let non_empty = fs::read_dir(path)
                .map_err(|e| Error::io(path, e))?
                .next()
                .is_some();
            if non_empty && !overwrite {
                return Err(Error::RunDir {
                    path: path.to_path_buf(),
                    msg: "exists and is not empty (use --force to overwrite)".into(),
                });
            }
            let _ = fs::remove_file(path.join("summary.json"));
            let _ = fs::remove_file(path.join("w_ov.csv"));
        }
        fs::create_dir_all(path).map_err(|e| Error::io(path, e))?;
        write_atomic(&path.join("config.toml"), cfg.to_toml_string().as_bytes())?;
        let mp = path.join("metrics.jsonl");
        let file = File::create(&mp).map_err(|e| Error::io(&mp, e))?;
        Ok(RunDir {
            path: path.to_path_buf(),
            metrics: BufWriter::new(file),
        })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one line to `metrics.jsonl` and flushes it.
    pub fn append(&mut self, record: &Record) -> Result<()> {
        let mp = self.path.join("metrics.jsonl");
        let line = serde_json::to_string(record).map_err(|e| Error::Json {
            path: mp.clone(),
            msg: e.to_string(),
        })?;
        writeln!(self.metrics, "{line}")
            .and_then(|_| self.metrics.flush())
            .map_err(|e| Error::io(&mp, e))
    }

    /// Writes `w_ov.csv`, then `summary.json`, marking the run finished.
    pub fn finish(&mut self, cfg: &Config, outcome: &Outcome) -> Result<()> {
        let w = outcome.model.w_answers_context(&outcome.task);
        write_atomic(
            &self.path.join("w_ov.csv"),
            w_ov_csv(&outcome.task, w.as_ref()).as_bytes(),
        )?;
        let summary = Summary {
            config: cfg,
            steps: cfg.train.steps,
            elapsed_s: outcome.elapsed_s,
            final_metrics: outcome.final_metrics(),
        };
        write_json(&self.path.join("summary.json"), &summary)
    }
}

impl Observer for RunDir {
    fn on_record(&mut self, record: &Record) -> Result<()> {
        self.append(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::train;

    #[test]
    fn writes_config_metrics_and_summary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run");
        let cfg = Config::default()
            .with_overrides(&[
                "task.n=4".into(),
                "model.d_h=4".into(),
                "train.steps=20".into(),
                "train.log_every=5".into(),
            ])
            .unwrap();
        let mut rd = RunDir::create(&path, &cfg, false).unwrap();
        let out = train(&cfg, None, &mut rd).unwrap();
        rd.finish(&cfg, &out).unwrap();
        let lines = fs::read_to_string(path.join("metrics.jsonl")).unwrap();
        assert_eq!(lines.lines().count(), 5);
        let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
        assert_eq!(first["step"], 0);
        for key in [
            "train_loss",
            "test_loss",
            "test_mean_rank",
            "margin_train_min",
            "nuclear_norm",
            "rank",
        ] {
            assert!(first.get(key).is_some(), "missing {key}");
        }
        let s: serde_json::Value =
            serde_json::from_str(&fs::read_to_string(path.join("summary.json")).unwrap()).unwrap();
        assert_eq!(s["steps"], 20);
        assert_eq!(s["config"]["task"]["n"], 4);
        // w_ov.csv holds W_OV[answers, context] exactly (round-trip precision), labelled.
        let csv = fs::read_to_string(path.join("w_ov.csv")).unwrap();
        let w = out.model.w_answers_context(&out.task);
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + w.nrows());
        assert!(lines[0].starts_with("answer,s_1_1,"), "{}", lines[0]);
        assert!(lines[0].ends_with(",r1,r2"), "{}", lines[0]);
        for (i, line) in lines[1..].iter().enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells[0], out.task.token_name(out.task.answers().start + i));
            let values: Vec<f64> = cells[1..].iter().map(|c| c.parse().unwrap()).collect();
            assert_eq!(
                values,
                (0..w.ncols()).map(|j| w[(i, j)]).collect::<Vec<_>>()
            );
        }
        assert!(s["final"]["test_accuracy"].is_number());
        let back = Config::from_toml_str(
            &fs::read_to_string(path.join("config.toml")).unwrap(),
            "config.toml",
        )
        .unwrap();
        assert_eq!(back, cfg);
        assert!(RunDir::create(&path, &cfg, false).is_err());
        assert!(RunDir::create(&path, &cfg, true).is_ok());
        assert!(!path.join("summary.json").exists());
        assert!(!path.join("w_ov.csv").exists());
    }
}
