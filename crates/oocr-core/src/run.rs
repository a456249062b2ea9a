//! Run folders: `config.toml` (resolved), `metrics.jsonl` (one line per logged step, flushed),
//! `summary.json` (written last, atomically, so its presence marks a finished run).

use crate::config::Config;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
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

/// Writes `bytes` to `path` via a temporary file and a rename, so readers never see half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Writes a value as pretty JSON, atomically.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
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

    /// Writes `summary.json`, marking the run finished.
    pub fn finish(&mut self, cfg: &Config, outcome: &Outcome) -> Result<()> {
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
    }
}
