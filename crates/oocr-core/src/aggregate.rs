//! Aggregation of a sweep folder: every `*/summary.json` grouped by its grid point (the config
//! without `train.seed`), mean and sample standard deviation over seeds of each final metric,
//! one row per grid point, as CSV or Markdown. Failed points (`error.json`) are counted per row.

use crate::config::Config;
use crate::csv_table::csv_text;
use crate::error::{Error, Result};
use serde_json::Value;
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The final metrics in `summary.json` order; unknown extra ones follow, sorted.
const METRICS: &[&str] = &crate::metrics::Metrics::KEYS;

/// Mean and sample standard deviation (n − 1) of one metric over the seeds of a grid point.
/// `None` when a seed's value is null (NaN), or for `std` with a single seed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    /// Mean over seeds.
    pub mean: Option<f64>,
    /// Sample standard deviation over seeds.
    pub std: Option<f64>,
}

/// One grid point.
#[derive(Debug, Clone)]
pub struct Row {
    /// Values of the varying keys, in `Aggregate::keys` order.
    pub values: Vec<Value>,
    /// Seeds of the finished runs, sorted.
    pub seeds: Vec<u64>,
    /// Number of failed runs (folders with `error.json` and no `summary.json`).
    pub failed: usize,
    /// One per metric, in `Aggregate::metrics` order.
    pub stats: Vec<Stat>,
}

/// The aggregated table of a sweep folder.
#[derive(Debug, Clone)]
pub struct Aggregate {
    /// Config keys whose value differs between grid points (dotted, sorted).
    pub keys: Vec<String>,
    /// Metric names.
    pub metrics: Vec<String>,
    /// One per grid point, sorted by the key values.
    pub rows: Vec<Row>,
    /// Folders with a `config.toml` but neither `summary.json` nor `error.json` (still running
    /// or interrupted); not in the table.
    pub unfinished: Vec<PathBuf>,
}

/// A group of runs sharing every config value but the seed.
#[derive(Default)]
struct Group {
    flat: BTreeMap<String, Value>,
    runs: Vec<(u64, serde_json::Map<String, Value>)>,
    failed: usize,
}

/// Dotted key → scalar of a JSON tree.
fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn read_json(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.to_path_buf(),
        msg: e.to_string(),
    })
}

/// The grid-point key (flattened config without the seed) and the seed.
fn point_of(cfg: &Config) -> (BTreeMap<String, Value>, u64) {
    let mut flat = BTreeMap::new();
    flatten(
        "",
        &serde_json::to_value(cfg).expect("a Config serializes"),
        &mut flat,
    );
    flat.remove("train.seed");
    (flat, cfg.train.seed)
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => display(a).cmp(&display(b)),
    }
}

/// A scalar as a table cell: strings without quotes.
pub fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn stat(values: &[Option<f64>]) -> Stat {
    if values.is_empty() || values.iter().any(Option::is_none) {
        return Stat {
            mean: None,
            std: None,
        };
    }
    let xs: Vec<f64> = values.iter().flatten().copied().collect();
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let std = (xs.len() >= 2)
        .then(|| (xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt());
    Stat {
        mean: Some(mean),
        std,
    }
}

/// Reads every run folder directly under `dir` and aggregates them.
pub fn aggregate(dir: &Path) -> Result<Aggregate> {
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    entries.sort();
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    let mut unfinished = Vec::new();
    let mut extra_metrics: Vec<String> = Vec::new();
    for folder in entries {
        let summary = folder.join("summary.json");
        let (cfg, finals) = if summary.exists() {
            let v = read_json(&summary)?;
            let cfg: Config =
                serde_json::from_value(v["config"].clone()).map_err(|e| Error::Json {
                    path: summary.clone(),
                    msg: format!("`config`: {e}"),
                })?;
            let finals = v["final"].as_object().cloned().ok_or_else(|| Error::Json {
                path: summary.clone(),
                msg: "no `final` object".into(),
            })?;
            (cfg, Some(finals))
        } else if folder.join("error.json").exists() {
            let p = folder.join("config.toml");
            let text = fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
            (
                Config::from_toml_str(&text, &p.display().to_string())?,
                None,
            )
        } else {
            if folder.join("config.toml").exists() {
                unfinished.push(folder);
            }
            continue;
        };
        let (flat, seed) = point_of(&cfg);
        let group = groups
            .entry(serde_json::to_string(&flat).expect("serializes"))
            .or_default();
        group.flat = flat;
        match finals {
            Some(f) => {
                for k in f.keys() {
                    if !METRICS.contains(&k.as_str()) && !extra_metrics.contains(k) {
                        extra_metrics.push(k.clone());
                    }
                }
                group.runs.push((seed, f));
            }
            None => group.failed += 1,
        }
    }
    extra_metrics.sort();
    let metrics: Vec<String> = METRICS
        .iter()
        .map(|s| s.to_string())
        .filter(|m| {
            groups
                .values()
                .any(|g| g.runs.iter().any(|(_, f)| f.contains_key(m)))
        })
        .chain(extra_metrics)
        .collect();
    let groups: Vec<Group> = groups.into_values().collect();
    let keys: Vec<String> = match groups.first() {
        None => Vec::new(),
        Some(first) => first
            .flat
            .keys()
            .filter(|k| groups.iter().any(|g| g.flat.get(*k) != first.flat.get(*k)))
            .cloned()
            .collect(),
    };
    let mut rows: Vec<Row> = groups
        .into_iter()
        .map(|mut g| {
            g.runs.sort_by_key(|(seed, _)| *seed);
            let stats = metrics
                .iter()
                .map(|m| {
                    let vals: Vec<Option<f64>> = g
                        .runs
                        .iter()
                        .map(|(_, f)| f.get(m).and_then(Value::as_f64))
                        .collect();
                    stat(&vals)
                })
                .collect();
            Row {
                values: keys
                    .iter()
                    .map(|k| g.flat.get(k).cloned().unwrap_or(Value::Null))
                    .collect(),
                seeds: g.runs.iter().map(|(s, _)| *s).collect(),
                failed: g.failed,
                stats,
            }
        })
        .collect();
    rows.sort_by(|a, b| {
        a.values
            .iter()
            .zip(&b.values)
            .map(|(x, y)| cmp_values(x, y))
            .find(|o| o.is_ne())
            .unwrap_or(Ordering::Equal)
    });
    Ok(Aggregate {
        keys,
        metrics,
        rows,
        unfinished,
    })
}

fn opt(x: Option<f64>) -> String {
    x.map(|v| v.to_string()).unwrap_or_default()
}

/// A number for people: 4 decimals in [1e-3, 1e4), scientific otherwise.
fn human(x: f64) -> String {
    let a = x.abs();
    if x == 0.0 || (1e-3..1e4).contains(&a) {
        format!("{x:.4}")
    } else {
        format!("{x:.3e}")
    }
}

impl Aggregate {
    /// CSV: the varying keys, `runs`, `failed`, `seeds` (space-separated), then
    /// `METRIC_mean`, `METRIC_std` per metric (full precision; empty when undefined).
    pub fn to_csv(&self) -> String {
        let mut header: Vec<String> = self.keys.clone();
        header.extend(["runs".into(), "failed".into(), "seeds".into()]);
        for m in &self.metrics {
            header.push(format!("{m}_mean"));
            header.push(format!("{m}_std"));
        }
        let rows: Vec<Vec<String>> = self
            .rows
            .iter()
            .map(|r| {
                let mut cells: Vec<String> = r.values.iter().map(display).collect();
                cells.push(r.seeds.len().to_string());
                cells.push(r.failed.to_string());
                cells.push(
                    r.seeds
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(" "),
                );
                for s in &r.stats {
                    cells.push(opt(s.mean));
                    cells.push(opt(s.std));
                }
                cells
            })
            .collect();
        csv_text(&header, &rows)
    }

    /// A Markdown table: the varying keys, runs, failed, and `mean ± std` per metric.
    pub fn to_markdown(&self) -> String {
        let mut header: Vec<String> = self.keys.iter().map(|k| format!("`{k}`")).collect();
        header.extend(["runs".into(), "failed".into()]);
        header.extend(self.metrics.iter().cloned());
        let mut out = format!("| {} |\n", header.join(" | "));
        out += &format!("|{}\n", "---|".repeat(header.len()));
        for r in &self.rows {
            let mut cells: Vec<String> = r.values.iter().map(display).collect();
            cells.push(r.seeds.len().to_string());
            cells.push(r.failed.to_string());
            for s in &r.stats {
                cells.push(match (s.mean, s.std) {
                    (Some(m), Some(sd)) => format!("{} ± {}", human(m), human(sd)),
                    (Some(m), None) => human(m),
                    _ => "–".into(),
                });
            }
            out += &format!("| {} |\n", cells.join(" | "));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_run(dir: &Path, name: &str, cfg: &Config, loss: Option<f64>, rank: usize) {
        let d = dir.join(name);
        fs::create_dir_all(&d).unwrap();
        let v = serde_json::json!({
            "config": cfg,
            "steps": 1,
            "elapsed_s": 0.1,
            "final": { "train_loss": loss, "rank": rank, "cos_nuclear_svm": null },
        });
        fs::write(d.join("summary.json"), v.to_string()).unwrap();
    }

    fn cfg(d_h: usize, seed: u64) -> Config {
        Config::default()
            .with_overrides(&[format!("model.d_h={d_h}"), format!("train.seed={seed}")])
            .unwrap()
    }

    #[test]
    fn one_row_per_grid_point_with_mean_and_sample_std() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        write_run(p, "a", &cfg(8, 0), Some(1.0), 2);
        write_run(p, "b", &cfg(8, 1), Some(2.0), 2);
        write_run(p, "c", &cfg(8, 2), Some(4.0), 3);
        write_run(p, "d", &cfg(16, 0), Some(0.5), 1);
        // A failed run of d_h = 16, and an unfinished folder.
        fs::create_dir_all(p.join("e")).unwrap();
        fs::write(p.join("e/config.toml"), cfg(16, 1).to_toml_string()).unwrap();
        fs::write(p.join("e/error.json"), "{}").unwrap();
        fs::create_dir_all(p.join("f")).unwrap();
        fs::write(p.join("f/config.toml"), cfg(16, 2).to_toml_string()).unwrap();

        let a = aggregate(p).unwrap();
        assert_eq!(a.keys, ["model.d_h"]);
        assert_eq!(a.metrics, ["train_loss", "rank", "cos_nuclear_svm"]);
        assert_eq!(a.rows.len(), 2);
        assert_eq!(a.unfinished, [p.join("f")]);
        let (r8, r16) = (&a.rows[0], &a.rows[1]);
        assert_eq!(r8.values, [serde_json::json!(8)]);
        assert_eq!(r8.seeds, [0, 1, 2]);
        assert_eq!(r8.failed, 0);
        assert_eq!(r8.stats[0].mean, Some(7.0 / 3.0));
        // Sample std of 1, 2, 4: sqrt(((4/3)^2 + (1/3)^2 + (5/3)^2) / 2) = sqrt(7/3).
        assert!((r8.stats[0].std.unwrap() - (7.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(r8.stats[2].mean, None, "null metrics stay undefined");
        assert_eq!((r16.seeds.len(), r16.failed), (1, 1));
        assert_eq!(
            r16.stats[0],
            Stat {
                mean: Some(0.5),
                std: None
            }
        );

        let csv = a.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("model.d_h,runs,failed,seeds,train_loss_mean,train_loss_std"));
        assert!(
            lines[1].starts_with("8,3,0,0 1 2,2.3333333333333335,"),
            "{}",
            lines[1]
        );
        assert!(lines[2].starts_with("16,1,1,0,0.5,,1,,,"), "{}", lines[2]);
        let md = a.to_markdown();
        assert_eq!(md.lines().count(), 4);
        assert!(md.contains("| 8 | 3 | 0 | 2.3333 ± 1.5275 |"), "{md}");
    }

    #[test]
    fn empty_folder_gives_an_empty_table() {
        let dir = tempfile::tempdir().unwrap();
        let a = aggregate(dir.path()).unwrap();
        assert!(a.rows.is_empty());
        assert_eq!(a.to_csv().lines().count(), 1);
    }
}
