//! Sweeps: a grid file (a base config, `seeds`, and a `[grid]` table of dotted keys → lists of
//! values) expands into points, each trained into a run folder named by a hash of its resolved
//! config. A point whose folder holds `summary.json` is skipped, so a killed sweep resumes by
//! rerunning it; `--shard I/N` runs the points whose index ≡ I−1 (mod N), so independent processes
//! (a Slurm job array) split a sweep with no coordinator. Everything is validated before any run.
//!
//! ```toml
//! preset = "paper-factorized"     # or: config = "base.toml" (relative to this file)
//! seeds = [0, 1, 2]
//! [grid]
//! "model.d_h" = [4, 8, 16]
//! "train.lr" = [0.5, 1.0]
//! ```
//!
//! Order: axes sorted by key, the first key varying slowest, seeds innermost.

use crate::atomic::write_json;
use crate::config::{read_text_capped, set_dotted, toml_error_message, Config, MAX_CONFIG_BYTES};
use crate::error::{Error, Result};
use crate::run::RunDir;
use crate::train::train;
use fs4::fs_std::FileExt;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Instant;

/// Grids with more points than this are refused (a typo like `[1, 2, ... 1000]` × 5 keys).
pub const MAX_POINTS: usize = 1_000_000;

/// The grid file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GridFile {
    preset: Option<String>,
    config: Option<PathBuf>,
    seeds: Option<Vec<u64>>,
    #[serde(default)]
    grid: toml::Table,
}

/// One swept key and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Axis {
    /// Dotted config key, e.g. `train.lr`.
    pub key: String,
    /// The values, in the file's order.
    pub values: Vec<toml::Value>,
}

/// One run of the sweep.
#[derive(Debug, Clone)]
pub struct Point {
    /// Position in the expansion (0-based); shards select by it.
    pub index: usize,
    /// The grid values of this point, one per axis.
    pub overrides: Vec<(String, toml::Value)>,
    /// `train.seed` of this point.
    pub seed: u64,
    /// The resolved, validated config.
    pub config: Config,
    /// Run folder name: the first 12 hex digits of the SHA-256 of the resolved config TOML.
    pub folder: String,
}

/// A validated sweep: the base config, seeds, axes and every point, resolved.
#[derive(Debug, Clone)]
pub struct Sweep {
    /// The grid file (for messages and the manifest).
    pub source: String,
    /// The config every point starts from.
    pub base: Config,
    /// Seeds (innermost loop).
    pub seeds: Vec<u64>,
    /// Swept keys, sorted.
    pub axes: Vec<Axis>,
    /// Every point, by index.
    pub points: Vec<Point>,
}

/// `--shard I/N`: the points whose index ≡ I−1 (mod N); 1-based I.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// I, 1-based.
    pub index: usize,
    /// N.
    pub count: usize,
}

/// What happened to a point in one sweep invocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Trained now; `summary.json` written.
    Done,
    /// Already finished earlier (its folder holds `summary.json`).
    Skipped,
    /// Training or writing failed; the error is in the log line and `error.json`.
    Failed,
}

/// One line of `points.jsonl` (or `points.shard-I-of-N.jsonl`).
#[derive(Debug, Clone, Serialize)]
pub struct PointLog {
    /// Point index.
    pub index: usize,
    /// Run folder (relative to the sweep folder).
    pub folder: String,
    /// `train.seed`.
    pub seed: u64,
    /// Grid values of this point.
    pub overrides: serde_json::Map<String, serde_json::Value>,
    /// done | skipped | failed.
    pub status: Status,
    /// The error of a failed point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Wall-clock seconds spent on the point here (0 when skipped).
    pub elapsed_s: f64,
    /// The shard that ran it, `I/N`.
    pub shard: String,
}

/// What one sweep invocation did, one log per selected point in index order.
#[derive(Debug, Clone)]
pub struct Report {
    /// The log lines, by index.
    pub logs: Vec<PointLog>,
}

impl Report {
    /// Number of points with `status`.
    pub fn count(&self, status: Status) -> usize {
        self.logs.iter().filter(|l| l.status == status).count()
    }

    /// The failed points.
    pub fn failed(&self) -> impl Iterator<Item = &PointLog> {
        self.logs.iter().filter(|l| l.status == Status::Failed)
    }
}

impl Shard {
    /// The whole sweep (1/1).
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Whether this shard runs the point with 0-based `index`.
    pub fn contains(&self, index: usize) -> bool {
        index % self.count == self.index - 1
    }

    /// Name of this shard's log file.
    pub fn log_name(&self) -> String {
        if *self == Shard::ALL {
            "points.jsonl".into()
        } else {
            format!("points.shard-{}-of-{}.jsonl", self.index, self.count)
        }
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = Error;

    fn from_str(s: &str) -> Result<Shard> {
        let bad = |msg: &str| Error::Shard {
            value: s.to_string(),
            msg: msg.to_string(),
        };
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| bad("expected I/N, e.g. 1/4"))?;
        let i: usize = i
            .trim()
            .parse()
            .map_err(|_| bad("I is not a whole number"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| bad("N is not a whole number"))?;
        if n == 0 {
            return Err(bad("N must be at least 1"));
        }
        if i == 0 || i > n {
            return Err(bad("I must be between 1 and N (shards are 1-based)"));
        }
        Ok(Shard { index: i, count: n })
    }
}

/// The run folder name of a resolved config: 12 hex digits of the SHA-256 of its TOML.
pub fn config_hash(cfg: &Config) -> String {
    let digest = Sha256::digest(cfg.to_toml_string().as_bytes());
    digest[..6].iter().map(|b| format!("{b:02x}")).collect()
}

/// Flattens nested tables (`[grid.model] d_h = [..]` or `model.d_h = [..]`) into dotted keys.
fn flatten(prefix: &str, table: &toml::Table, out: &mut Vec<(String, toml::Value)>) {
    for (k, v) in table {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            toml::Value::Table(t) => flatten(&key, t, out),
            other => out.push((key, other.clone())),
        }
    }
}

/// `key = value, key = value` of a point, for messages.
fn describe(overrides: &[(String, toml::Value)], seed: u64) -> String {
    let mut parts: Vec<String> = overrides
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    parts.push(format!("seed = {seed}"));
    parts.join(", ")
}

impl Sweep {
    /// Reads and validates a grid file; `config = "..."` is relative to its folder.
    pub fn load(path: &Path) -> Result<Sweep> {
        let text = read_text_capped(path, MAX_CONFIG_BYTES)?;
        let dir = path.parent().unwrap_or(Path::new(""));
        Sweep::parse(&text, &path.display().to_string(), dir)
    }

    /// Parses and validates grid TOML text: base config, seeds, axes, and every point's config
    /// (so a bad value is refused before any run, naming its key and point).
    pub fn parse(text: &str, source: &str, base_dir: &Path) -> Result<Sweep> {
        let err = |msg: String| Error::Grid {
            source_name: source.to_string(),
            msg,
        };
        let value: toml::Value =
            toml::from_str(text).map_err(|e| err(toml_error_message(text, &e)))?;
        let file: GridFile = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            if path == "." {
                err(e.inner().to_string())
            } else {
                err(format!("key `{path}`: {}", e.inner()))
            }
        })?;
        let base = match (&file.preset, &file.config) {
            (Some(_), Some(_)) => {
                return Err(err("give either `preset` or `config`, not both".into()))
            }
            (None, None) => {
                return Err(err(
                    "needs a base: `preset = \"NAME\"` or `config = \"FILE.toml\"`".into(),
                ))
            }
            (Some(name), None) => {
                crate::presets::preset(name)
                    .map_err(|e| err(format!("`preset`: {e}")))?
                    .config
            }
            (None, Some(rel)) => {
                let p = base_dir.join(rel);
                Config::from_file(&p).map_err(|e| err(format!("`config`: {e}")))?
            }
        };
        let seeds = file.seeds.unwrap_or_else(|| vec![base.train.seed]);
        if seeds.is_empty() {
            return Err(err(
                "`seeds` is an empty list (give at least one seed)".into()
            ));
        }
        let mut flat = Vec::new();
        flatten("", &file.grid, &mut flat);
        flat.sort_by(|a, b| a.0.cmp(&b.0));
        let mut axes: Vec<Axis> = Vec::new();
        for (key, v) in flat {
            if axes.last().is_some_and(|a| a.key == key) {
                return Err(err(format!("grid key `{key}` is given twice")));
            }
            if key.split('.').count() != 2 || key.split('.').any(str::is_empty) {
                return Err(err(format!(
                    "grid key `{key}`: expected section.key, e.g. \"train.lr\""
                )));
            }
            if key == "train.seed" {
                return Err(err(
                    "grid key `train.seed`: use `seeds = [...]` at the top level".into(),
                ));
            }
            let values = match v {
                toml::Value::Array(a) if a.is_empty() => {
                    return Err(err(format!(
                        "grid key `{key}` has an empty list (give at least one value)"
                    )))
                }
                toml::Value::Array(a) => a,
                other => {
                    return Err(err(format!(
                        "grid key `{key}`: expected a list of values, e.g. [1, 2], got {other}"
                    )))
                }
            };
            axes.push(Axis { key, values });
        }
        let combos = axes
            .iter()
            .try_fold(1usize, |acc, a| acc.checked_mul(a.values.len()))
            .and_then(|c| c.checked_mul(seeds.len()))
            .filter(|&c| c <= MAX_POINTS)
            .ok_or_else(|| err(format!("more than {MAX_POINTS} points")))?;
        let base_value = base.to_value();
        let mut points = Vec::with_capacity(combos);
        let mut seen: HashMap<String, usize> = HashMap::new();
        for index in 0..combos {
            let seed = seeds[index % seeds.len()];
            let mut rest = index / seeds.len();
            let mut overrides = vec![(String::new(), toml::Value::Boolean(false)); axes.len()];
            for (slot, axis) in overrides.iter_mut().zip(&axes).rev() {
                let n = axis.values.len();
                *slot = (axis.key.clone(), axis.values[rest % n].clone());
                rest /= n;
            }
            let mut value = base_value.clone();
            let resolved = overrides
                .iter()
                .try_for_each(|(k, v)| set_dotted(&mut value, k, v.clone()))
                .and_then(|_| {
                    let seed_value = i64::try_from(seed).map_err(|_| {
                        Error::config("train.seed", format!("{seed} does not fit in TOML"))
                    })?;
                    set_dotted(&mut value, "train.seed", toml::Value::Integer(seed_value))
                })
                .and_then(|_| Config::from_value(value));
            let config = resolved.map_err(|e| {
                err(format!(
                    "point {index} ({}): {e}",
                    describe(&overrides, seed)
                ))
            })?;
            let folder = config_hash(&config);
            if let Some(first) = seen.insert(folder.clone(), index) {
                return Err(err(format!(
                    "points {first} and {index} resolve to the same config ({}); \
                     remove the duplicate value",
                    describe(&overrides, seed)
                )));
            }
            points.push(Point {
                index,
                overrides,
                seed,
                config,
                folder,
            });
        }
        Ok(Sweep {
            source: source.to_string(),
            base,
            seeds,
            axes,
            points,
        })
    }

    /// The points `shard` runs, by index.
    pub fn selected(&self, shard: Shard) -> Vec<&Point> {
        self.points
            .iter()
            .filter(|p| shard.contains(p.index))
            .collect()
    }

    /// `sweep.json`: the grid and every point with its folder (identical for every shard).
    pub fn manifest(&self) -> serde_json::Value {
        let axes: serde_json::Map<String, serde_json::Value> = self
            .axes
            .iter()
            .map(|a| (a.key.clone(), json(&toml::Value::Array(a.values.clone()))))
            .collect();
        let points: Vec<serde_json::Value> = self
            .points
            .iter()
            .map(|p| {
                serde_json::json!({
                    "index": p.index,
                    "folder": p.folder,
                    "seed": p.seed,
                    "overrides": overrides_json(&p.overrides),
                })
            })
            .collect();
        serde_json::json!({
            "grid": self.source,
            "base": self.base,
            "seeds": self.seeds,
            "axes": axes,
            "points": points,
        })
    }

    /// Runs the points of `shard` into `out` in parallel (the ambient rayon pool; each run is
    /// single-threaded, so results do not depend on the thread count). Finished points (a whole
    /// `summary.json` of the same config) are skipped, unfinished folders are overwritten,
    /// failures are recorded and the sweep goes on. Each point is trained under an exclusive lock
    /// on its folder's `.lock`: points another process (a second sweep on the same folder) holds
    /// are put off, then waited for and skipped once it has finished them, so every point is
    /// trained once.
    /// Every point appends one line to the shard's log; `on_point` sees it too (progress).
    /// Returns `Err` only for I/O on the sweep folder itself.
    pub fn run(
        &self,
        out: &Path,
        shard: Shard,
        on_point: &(dyn Fn(&PointLog) + Sync),
    ) -> Result<Report> {
        fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        write_json(&out.join("sweep.json"), &self.manifest())?;
        let log_path = out.join(shard.log_name());
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::io(&log_path, e))?;
        let log = Mutex::new(log);
        let write_log = |entry: &PointLog| -> Result<()> {
            let mut line = serde_json::to_string(entry).expect("a log line serializes");
            line.push('\n');
            let mut f = log.lock().unwrap_or_else(|e| e.into_inner());
            f.write_all(line.as_bytes())
                .and_then(|_| f.flush())
                .map_err(|e| Error::io(&log_path, e))
        };
        // First pass: every point whose lock is free; points another process holds are put off.
        let first = self
            .selected(shard)
            .into_par_iter()
            .map(|p| match run_point(p, out, shard, false)? {
                Some(entry) => {
                    write_log(&entry)?;
                    on_point(&entry);
                    Ok((p, Some(entry)))
                }
                None => Ok((p, None)),
            })
            .collect::<Result<Vec<_>>>()?;
        // Second pass: wait for the other process to release each put-off point, then skip it
        // (finished there) or train it (the other process failed or was killed).
        let mut logs = first
            .into_par_iter()
            .map(|(p, done)| match done {
                Some(entry) => Ok(entry),
                None => {
                    let entry = run_point(p, out, shard, true)?
                        .expect("a blocking lock always yields a result");
                    write_log(&entry)?;
                    on_point(&entry);
                    Ok(entry)
                }
            })
            .collect::<Result<Vec<_>>>()?;
        logs.sort_by_key(|l| l.index);
        Ok(Report { logs })
    }
}

/// A TOML value as JSON.
fn json(v: &toml::Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn overrides_json(o: &[(String, toml::Value)]) -> serde_json::Map<String, serde_json::Value> {
    o.iter().map(|(k, v)| (k.clone(), json(v))).collect()
}

/// Name of the lock file in each point's folder.
pub const LOCK_FILE: &str = ".lock";

/// Whether `dir` holds the `summary.json` of a finished run of `cfg`: whole, parseable JSON with
/// the same config, the configured step count and a `final` object. A truncated or foreign file
/// does not count (the point is trained again).
pub fn is_finished(dir: &Path, cfg: &Config) -> bool {
    let Ok(text) = fs::read_to_string(dir.join("summary.json")) else {
        return false;
    };
    let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    let same_config =
        serde_json::from_value::<Config>(v["config"].clone()).is_ok_and(|c| c == *cfg);
    same_config && v["steps"].as_u64() == Some(cfg.train.steps as u64) && v["final"].is_object()
}

/// Trains one point (or skips it), never panicking out: a panic is recorded as a failure.
/// The point's folder is locked (an exclusive `flock` on `.lock` inside it) while it is checked
/// and trained, so two processes never train the same point. With `wait = false` a point locked
/// by another process returns `None`; with `wait = true` this blocks until the lock is free.
/// `Err` only when the folder or its lock file cannot be created.
fn run_point(p: &Point, out: &Path, shard: Shard, wait: bool) -> Result<Option<PointLog>> {
    let start = Instant::now();
    let dir = out.join(&p.folder);
    let log = |status: Status, error: Option<String>| PointLog {
        index: p.index,
        folder: p.folder.clone(),
        seed: p.seed,
        overrides: overrides_json(&p.overrides),
        status,
        error,
        elapsed_s: if status == Status::Skipped {
            0.0
        } else {
            start.elapsed().as_secs_f64()
        },
        shard: shard.to_string(),
    };
    if is_finished(&dir, &p.config) {
        return Ok(Some(log(Status::Skipped, None)));
    }
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let lock_path = dir.join(LOCK_FILE);
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| Error::io(&lock_path, e))?;
    if wait {
        FileExt::lock_exclusive(&lock).map_err(|e| Error::io(&lock_path, e))?;
    } else if !FileExt::try_lock_exclusive(&lock).map_err(|e| Error::io(&lock_path, e))? {
        return Ok(None);
    }
    // Another process may have finished the point while this one waited for the lock.
    if is_finished(&dir, &p.config) {
        return Ok(Some(log(Status::Skipped, None)));
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| train_point(p, &dir)))
        .unwrap_or_else(|panic| {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "unknown panic".into());
            Err(format!("panicked: {msg}"))
        });
    let entry = match result {
        Ok(()) => log(Status::Done, None),
        Err(e) => {
            let record = serde_json::json!({ "index": p.index, "error": e });
            let _ = write_json(&dir.join("error.json"), &record);
            log(Status::Failed, Some(e))
        }
    };
    // The lock is released when `lock` is dropped (and by the OS if this process dies).
    drop(lock);
    Ok(Some(entry))
}

fn train_point(p: &Point, dir: &Path) -> std::result::Result<(), String> {
    let _ = fs::remove_file(dir.join("error.json"));
    let mut run = RunDir::create(dir, &p.config, true).map_err(|e| e.to_string())?;
    // The same SVM reference as `oocr train`, so sweep points carry the cosine metrics too.
    let svm = crate::svm::reference_for(&p.config).map_err(|e| format!("SVM reference: {e}"))?;
    let outcome = train(&p.config, svm.as_ref(), &mut run).map_err(|e| e.to_string())?;
    run.finish(&p.config, &outcome).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Sweep> {
        Sweep::parse(text, "g.toml", Path::new("."))
    }

    fn parse_err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    const SMALL: &str = r#"
preset = "paper-factorized"
seeds = [0, 1, 2]
[grid]
"model.d_h" = [4, 8]
train.lr = [0.5, 1.0]
"#;

    #[test]
    fn expands_product_times_seeds_in_stable_order() {
        let s = parse(SMALL).unwrap();
        assert_eq!(s.points.len(), 12);
        let keys: Vec<&str> = s.axes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["model.d_h", "train.lr"]);
        // Seeds innermost, the last key next, the first key slowest.
        let p = &s.points[0];
        assert_eq!((p.config.model.d_h, p.config.train.lr, p.seed), (4, 0.5, 0));
        let p = &s.points[4];
        assert_eq!((p.config.model.d_h, p.config.train.lr, p.seed), (4, 1.0, 1));
        let p = &s.points[11];
        assert_eq!((p.config.model.d_h, p.config.train.lr, p.seed), (8, 1.0, 2));
        assert_eq!(p.config.train.seed, 2);
        assert_eq!(p.config.task.n, 20, "the preset's other values are kept");
        // Folders are distinct, stable, and the hash of the config.
        let again = parse(SMALL).unwrap();
        for (a, b) in s.points.iter().zip(&again.points) {
            assert_eq!(a.folder, b.folder);
            assert_eq!(a.folder, config_hash(&a.config));
            assert_eq!(a.folder.len(), 12);
        }
    }

    #[test]
    fn shards_partition_the_points() {
        let s = parse(SMALL).unwrap();
        let mut seen = vec![0; s.points.len()];
        for i in 1..=5 {
            for p in s.selected(Shard { index: i, count: 5 }) {
                seen[p.index] += 1;
                assert_eq!(p.index % 5, i - 1);
            }
        }
        assert!(seen.iter().all(|&c| c == 1));
        assert_eq!(s.selected(Shard::ALL).len(), 12);
    }

    #[test]
    fn shard_strings() {
        assert_eq!(
            "2/4".parse::<Shard>().unwrap(),
            Shard { index: 2, count: 4 }
        );
        for bad in ["0/4", "5/4", "1/0", "1", "a/2", "1/b", "-1/2", ""] {
            let e = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(e.contains("--shard") && e.contains(bad), "{bad}: {e}");
        }
    }

    #[test]
    fn malformed_grids_are_refused_naming_the_problem() {
        let cases: &[(&str, &str)] = &[
            ("preset = \"paper-factorized\"\nsed = [1]\n", "sed"),
            (
                "preset = \"paper-factorized\"\n[grid]\n\"model.d_h\" = []\n",
                "empty list",
            ),
            ("preset = \"paper-factorized\"\nseeds = []\n", "seeds"),
            (
                "preset = \"paper-factorized\"\n[grid]\n\"model.d_hh\" = [1]\n",
                "d_hh",
            ),
            (
                "preset = \"paper-factorized\"\n[grid]\n\"model.d_h\" = [4, 0]\n",
                "model.d_h",
            ),
            (
                "preset = \"paper-factorized\"\n[grid]\n\"train.lr\" = 0.5\n",
                "expected a list",
            ),
            (
                "preset = \"paper-factorized\"\n[grid]\n\"lr\" = [0.5]\n",
                "section.key",
            ),
            (
                "preset = \"paper-factorized\"\n[grid]\n\"train.seed\" = [1]\n",
                "seeds",
            ),
            (
                "preset = \"paper-factorized\"\n[grid]\n\"train.lr\" = [1.0, 1]\n",
                "same config",
            ),
            ("seeds = [0]\n", "needs a base"),
            (
                "preset = \"paper-factorized\"\nconfig = \"x.toml\"\n",
                "not both",
            ),
            ("preset = \"nope\"\n", "nope"),
            ("config = \"missing.toml\"\n", "missing.toml"),
            ("preset = \"paper-factorized\"\n[grid\n", "g.toml"),
            (
                "preset = \"paper-factorized\"\n[grid]\n\"model.param\" = [\"merged\"]\n",
                "model.param",
            ),
        ];
        for (text, needle) in cases {
            let e = parse_err(text);
            assert!(e.contains(needle), "{text:?}: `{e}` lacks `{needle}`");
            assert!(
                e.contains("g.toml"),
                "{text:?}: `{e}` does not name the file"
            );
        }
    }

    #[test]
    fn config_path_is_relative_to_the_grid_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("base.toml"), "[task]\nn = 3\n").unwrap();
        let grid = dir.path().join("g.toml");
        fs::write(
            &grid,
            "config = \"base.toml\"\n[grid.model]\nd_h = [2, 3]\n",
        )
        .unwrap();
        let s = Sweep::load(&grid).unwrap();
        assert_eq!(s.points.len(), 2);
        assert_eq!(s.points[1].config.task.n, 3);
        assert_eq!(s.points[1].config.model.d_h, 3);
        assert_eq!(s.seeds, vec![0], "the base seed when `seeds` is absent");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::testutil::fixed;
    use proptest::prelude::*;
    use std::collections::HashSet;

    /// A grid over up to three keys with distinct values, and distinct seeds.
    fn grid() -> impl Strategy<Value = (Vec<u64>, Vec<(String, Vec<i64>)>)> {
        let values = |lo: i64, hi: i64| {
            prop::collection::hash_set(lo..hi, 1..4).prop_map(|s| s.into_iter().collect::<Vec<_>>())
        };
        (
            prop::collection::hash_set(0u64..1000, 1..4),
            prop::option::of(values(1, 64)),
            prop::option::of(values(1, 12)),
            prop::option::of(values(1, 200)),
        )
            .prop_map(|(seeds, d_h, n, steps)| {
                let mut axes = Vec::new();
                for (k, v) in [("model.d_h", d_h), ("task.n", n), ("train.steps", steps)] {
                    if let Some(v) = v {
                        axes.push((k.to_string(), v));
                    }
                }
                (seeds.into_iter().collect(), axes)
            })
    }

    fn grid_text(seeds: &[u64], axes: &[(String, Vec<i64>)]) -> String {
        let mut t = format!("preset = \"paper-factorized\"\nseeds = {seeds:?}\n[grid]\n");
        for (k, v) in axes {
            t += &format!("\"{k}\" = {v:?}\n");
        }
        t
    }

    proptest! {
        #![proptest_config(fixed(128))]

        /// The expansion is the product of the axes times the seeds, each combination once with
        /// its values in its config, and every shard count partitions the points.
        #[test]
        fn grid_expands_to_the_product_and_shards_partition_it((seeds, axes) in grid(), shards in 1usize..9) {
            let s = Sweep::parse(&grid_text(&seeds, &axes), "g.toml", Path::new(".")).unwrap();
            let product: usize = axes.iter().map(|(_, v)| v.len()).product::<usize>() * seeds.len();
            prop_assert_eq!(s.points.len(), product);
            let mut combos = HashSet::new();
            for (i, p) in s.points.iter().enumerate() {
                prop_assert_eq!(p.index, i);
                prop_assert_eq!(p.config.train.seed, p.seed);
                let v = p.config.to_value();
                let mut combo = vec![p.seed as i64];
                for (k, _) in &axes {
                    let (sec, key) = k.split_once('.').unwrap();
                    combo.push(v[sec][key].as_integer().unwrap());
                }
                prop_assert!(combos.insert(combo), "a combination appears twice");
            }
            let folders: HashSet<_> = s.points.iter().map(|p| &p.folder).collect();
            prop_assert_eq!(folders.len(), product);
            let mut seen = vec![0; product];
            for i in 1..=shards {
                let sel = s.selected(Shard { index: i, count: shards });
                prop_assert!(sel.windows(2).all(|w| w[0].index < w[1].index));
                for p in sel {
                    seen[p.index] += 1;
                }
            }
            prop_assert!(seen.iter().all(|&c| c == 1));
            let shard_str = format!("{}/{}", shards, shards);
            prop_assert_eq!(shard_str.parse::<Shard>().unwrap(), Shard { index: shards, count: shards });
        }
    }

    /// Fragments of grid files, well-formed and not, for the bounded fuzz run.
    const FRAGMENTS: &[&str] = &[
        "preset = \"paper-factorized\"",
        "preset = \"theorem2\"",
        "preset = \"nope\"",
        "preset = 3",
        "config = \"missing.toml\"",
        "seeds = [0, 1]",
        "seeds = []",
        "seeds = [-1]",
        "seeds = \"x\"",
        "seeds = [0, 0]",
        "[grid]",
        "[grid.model]",
        "[grid.train]",
        "[bogus]",
        "\"model.d_h\" = [2, 4]",
        "\"model.d_h\" = [0]",
        "\"model.d_h\" = []",
        "\"model.d_h\" = 4",
        "\"train.lr\" = [0.5, 1.0]",
        "\"train.lr\" = [1.0, 1]",
        "\"train.seed\" = [1]",
        "\"lr\" = [1]",
        "\"a.b.c\" = [1]",
        "d_h = [8, 16]",
        "lr = [0.1]",
        "\"task.n\" = [9223372036854775807]",
        "\"model.d_h\" = [100000000]",
        "\"model.param\" = [\"nonfactorized\", \"factorized\"]",
        "x = 1",
        "[",
        "\"",
        "= 3",
        "",
        "# comment",
    ];

    proptest! {
        #![proptest_config(fixed(1000))]

        /// Bounded fuzz run of grid parsing: any mix of fragments gives a sweep whose points all
        /// validate, or an error naming the grid file.
        #[test]
        fn grid_parsing_fuzz(lines in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..10)) {
            let text = lines.join("\n");
            match Sweep::parse(&text, "fuzz.toml", Path::new("/nonexistent")) {
                Ok(s) => {
                    prop_assert!(!s.points.is_empty());
                    for p in &s.points {
                        prop_assert!(p.config.validate().is_ok());
                    }
                }
                Err(e) => prop_assert!(e.to_string().contains("fuzz.toml"), "{}", e),
            }
        }
    }
}
