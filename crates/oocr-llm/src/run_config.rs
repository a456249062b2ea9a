//! The settings of `oocr llm run`: a TOML file (`--config run.toml`), command-line flags and
//! `--set key=value` overrides resolve to one [`RunConfig`], checked before the model is loaded
//! and written into the run folder as `config.toml`.
//!
//! ```toml
//! model = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
//! assoc = "all"              # a name, comma-separated names, or all
//! assoc_files = []           # TOML files of [[association]] tables adding to the built-ins
//! method = "full"            # full | lora
//! base_dtype = "f32"         # f32 | bf16 | quantized (LoRA only)
//! seeds = [0]                # each association runs once per seed
//! [lora]                     # used when method = "lora"
//! rank = 8
//! alpha = 16.0               # default 2 × rank
//! targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
//! [train]
//! epochs = 8                 # default 8 full, 12 LoRA
//! batch_size = 8
//! schedule = "cosine"        # constant | cosine
//! warmup_frac = 0.1
//! [optim]
//! lr = 1e-4                  # default 1e-4 full, 1e-3 LoRA
//! beta1 = 0.9
//! beta2 = 0.999
//! eps = 1e-8
//! weight_decay = 0.0
//! max_grad_norm = 1.0        # 0 = no clipping
//! [dataset]
//! group_size = 20
//! train_ratio = 0.2
//! [eval]
//! batch_size = 16
//! per_epoch = true           # rank before training and after every epoch
//! ```
use crate::dataset::{Association, Catalog, DatasetConfig};
use crate::error::{LlmError, Result};
use crate::lora::{LoraConfig, Method, LORA_TARGETS};
use crate::optim::AdamWConfig;
use crate::packed::BaseDtype;
use crate::train::{Schedule, TrainConfig};
use oocr_core::config::{parse_set, read_text_capped, set_dotted, toml_error_message};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Most epochs a run may ask for.
pub const MAX_EPOCHS: usize = 1000;
/// Largest training or scoring batch.
pub const MAX_BATCH: usize = 4096;
/// Most seeds one run may list.
pub const MAX_SEEDS: usize = 100;
/// Most kernel threads, whatever the machine.
pub const MAX_THREADS: usize = 256;
/// Largest LoRA rank before the model's width is known (then: at most the hidden size).
pub const MAX_LORA_RANK: usize = 65_536;
/// Largest run config file read.
pub const MAX_RUN_CONFIG_BYTES: u64 = 1 << 20;

/// Fine-tuning method as a config value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MethodKind {
    /// Every parameter trains.
    #[default]
    Full,
    /// LoRA adapters (`[lora]`) train; the base is frozen.
    Lora,
}

/// `[train]`: the fine-tuning loop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainSettings {
    /// Passes over the training set (default 8 full, 12 LoRA).
    pub epochs: usize,
    /// Examples per optimizer step.
    #[serde(default = "d_batch")]
    pub batch_size: usize,
    /// Learning-rate schedule after the warm-up.
    #[serde(default = "d_schedule")]
    pub schedule: Schedule,
    /// Share of the steps spent warming the learning rate up linearly.
    #[serde(default = "d_warmup")]
    pub warmup_frac: f64,
}

/// `[optim]`: AdamW.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OptimSettings {
    /// Peak learning rate (default 1e-4 full, 1e-3 LoRA).
    pub lr: f64,
    /// First-moment decay.
    #[serde(default = "d_beta1")]
    pub beta1: f64,
    /// Second-moment decay.
    #[serde(default = "d_beta2")]
    pub beta2: f64,
    /// Denominator epsilon.
    #[serde(default = "d_eps")]
    pub eps: f64,
    /// Decoupled weight decay.
    #[serde(default)]
    pub weight_decay: f64,
    /// Clip the global gradient norm at this value (0 = off).
    #[serde(default = "d_clip")]
    pub max_grad_norm: f64,
}

/// `[dataset]`: size and split (the seed comes from `seeds`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SplitSettings {
    /// Subjects per (fact, implication) group.
    pub group_size: usize,
    /// Share of each group whose implication is trained on.
    pub train_ratio: f64,
}

impl Default for SplitSettings {
    fn default() -> Self {
        let d = DatasetConfig::default();
        SplitSettings {
            group_size: d.group_size,
            train_ratio: d.train_ratio,
        }
    }
}

/// `[eval]`: scoring.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvalSettings {
    /// Prompts per scoring forward pass.
    pub batch_size: usize,
    /// Evaluate before training and after every epoch (else before and after only).
    pub per_epoch: bool,
}

impl Default for EvalSettings {
    fn default() -> Self {
        EvalSettings {
            batch_size: 16,
            per_epoch: true,
        }
    }
}

/// `[lora]`: adapter settings (used when `method = "lora"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSettings {
    /// Adapter rank r (1 ..= the model's hidden size).
    #[serde(default = "d_rank")]
    pub rank: usize,
    /// Update scale numerator (default 2 × rank).
    pub alpha: f64,
    /// Adapted projections.
    #[serde(default = "d_targets")]
    pub targets: Vec<String>,
}

fn d_batch() -> usize {
    8
}
fn d_schedule() -> Schedule {
    Schedule::Cosine
}
fn d_warmup() -> f64 {
    0.1
}
fn d_beta1() -> f64 {
    AdamWConfig::default().beta1
}
fn d_beta2() -> f64 {
    AdamWConfig::default().beta2
}
fn d_eps() -> f64 {
    AdamWConfig::default().eps
}
fn d_clip() -> f64 {
    AdamWConfig::default().max_grad_norm
}
fn d_rank() -> usize {
    8
}
fn d_targets() -> Vec<String> {
    LORA_TARGETS.iter().map(|s| s.to_string()).collect()
}
fn d_assoc() -> String {
    "all".into()
}
fn d_seeds() -> Vec<u64> {
    vec![0]
}

/// Everything a run depends on; written as `config.toml` in the run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// GGUF file or Hugging Face folder.
    pub model: PathBuf,
    /// Optional tokenizer.json overriding the model's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<PathBuf>,
    /// Association name, comma-separated names, or `all`.
    #[serde(default = "d_assoc")]
    pub assoc: String,
    /// Association files adding to the built-ins.
    #[serde(default)]
    pub assoc_files: Vec<PathBuf>,
    /// `full` or `lora`.
    #[serde(default)]
    pub method: MethodKind,
    /// How the frozen base of a LoRA run is stored (`f32`, `bf16`, `quantized`).
    #[serde(default)]
    pub base_dtype: BaseDtype,
    /// Seeds: each sets the name draw, the split, the data order and the LoRA init.
    #[serde(default = "d_seeds")]
    pub seeds: Vec<u64>,
    /// Kernel threads (default: all cores).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    /// LoRA settings.
    pub lora: LoraSettings,
    /// Training loop.
    pub train: TrainSettings,
    /// Optimizer.
    pub optim: OptimSettings,
    /// Dataset size and split.
    #[serde(default)]
    pub dataset: SplitSettings,
    /// Evaluation.
    #[serde(default)]
    pub eval: EvalSettings,
}

/// A `Config` error's key moved into `section` (`train_ratio` → `dataset.train_ratio`).
fn in_section(section: &str, e: LlmError) -> LlmError {
    match e {
        LlmError::Config { key, msg } => LlmError::Config {
            key: format!("{section}.{key}"),
            msg,
        },
        e => e,
    }
}

fn cfg_err(key: &str, e: impl std::fmt::Display) -> LlmError {
    LlmError::config(key, e.to_string())
}

/// Set `key` (a top-level name or `section.key`) in a TOML tree.
pub fn set_key(root: &mut toml::Value, key: &str, value: toml::Value) -> Result<()> {
    if key.is_empty() {
        return Err(cfg_err("--set", "empty key"));
    }
    if key.contains('.') {
        set_dotted(root, key, value).map_err(|e| cfg_err(key, e))
    } else {
        root.as_table_mut()
            .ok_or_else(|| cfg_err(key, "the config is not a table"))?
            .insert(key.to_string(), value);
        Ok(())
    }
}

/// Apply `key=value` overrides (values read as TOML, else as bare strings) to a TOML tree.
pub fn apply_sets(root: &mut toml::Value, sets: &[String]) -> Result<()> {
    for s in sets {
        let (key, v) = parse_set(s).map_err(|e| cfg_err("--set", e))?;
        set_key(root, &key, v)?;
    }
    Ok(())
}

/// Insert `value` at `section.key` unless present.
fn default_at(root: &mut toml::Value, section: &str, key: &str, value: toml::Value) {
    if let Some(t) = root.as_table_mut() {
        let sec = t
            .entry(section.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
        if let Some(st) = sec.as_table_mut() {
            st.entry(key.to_string()).or_insert(value);
        }
    }
}

impl RunConfig {
    /// Resolve a TOML tree (a file, flags and `--set`s already applied): fill the defaults that
    /// depend on the method (epochs, lr, LoRA alpha), deserialize naming the offending key, and
    /// check every value.
    pub fn from_value(mut value: toml::Value) -> Result<RunConfig> {
        if !value.is_table() {
            return Err(cfg_err("(top level)", "expected a table of keys"));
        }
        for section in ["lora", "train", "optim", "dataset", "eval"] {
            if let Some(v) = value.get(section) {
                if !v.is_table() {
                    return Err(cfg_err(
                        section,
                        format!("expected a [{section}] table, got {}", v.type_str()),
                    ));
                }
            }
        }
        let lora = value.get("method").and_then(|m| m.as_str()) == Some("lora");
        let (epochs, lr) = if lora { (12, 1e-3) } else { (8, 1e-4) };
        default_at(&mut value, "train", "epochs", toml::Value::Integer(epochs));
        default_at(&mut value, "optim", "lr", toml::Value::Float(lr));
        let rank = value
            .get("lora")
            .and_then(|l| l.get("rank"))
            .and_then(|r| r.as_integer())
            .unwrap_or(d_rank() as i64);
        default_at(
            &mut value,
            "lora",
            "alpha",
            toml::Value::Float(2.0 * rank as f64),
        );
        let cfg: RunConfig = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." {
                "(top level)".into()
            } else {
                key
            };
            cfg_err(&key, e.inner())
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Parse TOML text; `source` names it in errors.
    pub fn from_toml_str(text: &str, source: &str) -> Result<RunConfig> {
        RunConfig::from_value(Self::parse_toml(text, source)?)
    }

    /// Parse TOML text to a tree (no defaults, no checks).
    pub fn parse_toml(text: &str, source: &str) -> Result<toml::Value> {
        toml::from_str(text).map_err(|e| cfg_err(source, toml_error_message(text, &e)))
    }

    /// Read a run config file (at most 1 MiB) to a tree (no defaults, no checks).
    pub fn read_file(path: &Path) -> Result<toml::Value> {
        let shown = path.display().to_string();
        let text =
            read_text_capped(path, MAX_RUN_CONFIG_BYTES).map_err(|e| cfg_err("--config", e))?;
        Self::parse_toml(&text, &shown)
    }

    /// The defaults for `model`, `assoc` and `method` (tests and library users).
    pub fn defaults(model: PathBuf, assoc: String, method: Method) -> RunConfig {
        let mut v = toml::Value::Table(Default::default());
        let s = |x: &str| toml::Value::String(x.into());
        set_key(&mut v, "model", s(&model.to_string_lossy())).expect("table");
        set_key(&mut v, "assoc", s(&assoc)).expect("table");
        if let Method::Lora(l) = &method {
            set_key(&mut v, "method", s("lora")).expect("table");
            let lora = toml::Value::try_from(l).expect("LoRA settings serialize");
            set_key(&mut v, "lora", lora).expect("table");
        }
        let mut cfg = RunConfig::from_value(v).expect("the defaults are valid");
        cfg.model = model;
        cfg
    }

    /// This config as TOML text (`config.toml`).
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).expect("a RunConfig always serializes")
    }

    /// This config as a TOML tree.
    pub fn to_value(&self) -> toml::Value {
        toml::Value::try_from(self).expect("a RunConfig always serializes")
    }

    /// The fine-tuning method.
    pub fn method(&self) -> Method {
        match self.method {
            MethodKind::Full => Method::Full,
            MethodKind::Lora => Method::Lora(LoraConfig {
                rank: self.lora.rank,
                alpha: self.lora.alpha,
                targets: self.lora.targets.clone(),
            }),
        }
    }

    /// The optimizer settings.
    pub fn adamw(&self) -> AdamWConfig {
        let o = &self.optim;
        AdamWConfig {
            lr: o.lr,
            beta1: o.beta1,
            beta2: o.beta2,
            eps: o.eps,
            weight_decay: o.weight_decay,
            max_grad_norm: o.max_grad_norm,
        }
    }

    /// The training loop settings for one seed.
    pub fn train_config(&self, seed: u64) -> TrainConfig {
        TrainConfig {
            epochs: self.train.epochs,
            batch_size: self.train.batch_size,
            seed,
            schedule: self.train.schedule,
            warmup_frac: self.train.warmup_frac,
        }
    }

    /// The dataset settings for one seed.
    pub fn dataset_config(&self, seed: u64) -> DatasetConfig {
        DatasetConfig {
            group_size: self.dataset.group_size,
            train_ratio: self.dataset.train_ratio,
            seed,
        }
    }

    /// The associations of the run (built-ins plus `assoc_files`), each checked against the
    /// dataset settings.
    pub fn associations(&self) -> Result<Vec<&'static Association>> {
        let assocs = Catalog::load(&self.assoc_files)?.select(&self.assoc)?;
        for a in &assocs {
            self.dataset_config(0)
                .validate_for(a)
                .map_err(|e| in_section("dataset", e))?;
        }
        Ok(assocs)
    }

    /// Check every value that needs no file; errors name the key.
    pub fn validate(&self) -> Result<()> {
        let finite_pos = |key: &str, x: f64| {
            if x.is_finite() && x > 0.0 {
                Ok(())
            } else {
                Err(cfg_err(
                    key,
                    format!("must be a finite number > 0, got {x}"),
                ))
            }
        };
        let finite_nonneg = |key: &str, x: f64| {
            if x.is_finite() && x >= 0.0 {
                Ok(())
            } else {
                Err(cfg_err(
                    key,
                    format!("must be a finite number >= 0, got {x}"),
                ))
            }
        };
        let range = |key: &str, x: usize, lo: usize, hi: usize| {
            if (lo..=hi).contains(&x) {
                Ok(())
            } else {
                Err(cfg_err(key, format!("{x} is out of range {lo}..={hi}")))
            }
        };
        if self.model.as_os_str().is_empty() {
            return Err(cfg_err("model", "is empty"));
        }
        if self.method == MethodKind::Lora {
            range("lora.rank", self.lora.rank, 1, MAX_LORA_RANK)?;
            finite_pos("lora.alpha", self.lora.alpha)?;
            if let Method::Lora(l) = self.method() {
                l.resolved_targets().map_err(|e| match e {
                    LlmError::Config { msg, .. } => cfg_err("lora.targets", msg),
                    e => e,
                })?;
            }
        }
        crate::experiment::check_base_dtype(&self.method(), self.base_dtype)?;
        if self.seeds.is_empty() || self.seeds.len() > MAX_SEEDS {
            return Err(cfg_err(
                "seeds",
                format!("{} seeds; give 1 to {MAX_SEEDS}", self.seeds.len()),
            ));
        }
        for (i, s) in self.seeds.iter().enumerate() {
            if self.seeds[..i].contains(s) {
                return Err(cfg_err("seeds", format!("seed {s} is listed twice")));
            }
            if i64::try_from(*s).is_err() {
                return Err(cfg_err(
                    "seeds",
                    format!("{s} does not fit in a TOML integer"),
                ));
            }
        }
        if let Some(n) = self.threads {
            range("threads", n, 1, max_threads())?;
        }
        range("train.epochs", self.train.epochs, 1, MAX_EPOCHS)?;
        range("train.batch_size", self.train.batch_size, 1, MAX_BATCH)?;
        let w = self.train.warmup_frac;
        if !(w.is_finite() && (0.0..1.0).contains(&w)) {
            return Err(cfg_err(
                "train.warmup_frac",
                format!("must be in [0, 1), got {w}"),
            ));
        }
        let o = &self.optim;
        finite_pos("optim.lr", o.lr)?;
        for (key, b) in [("optim.beta1", o.beta1), ("optim.beta2", o.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return Err(cfg_err(key, format!("must be in [0, 1), got {b}")));
            }
        }
        finite_pos("optim.eps", o.eps)?;
        finite_nonneg("optim.weight_decay", o.weight_decay)?;
        finite_nonneg("optim.max_grad_norm", o.max_grad_norm)?;
        range("dataset.group_size", self.dataset.group_size, 1, usize::MAX)?;
        let r = self.dataset.train_ratio;
        if !(r.is_finite() && (0.0..=1.0).contains(&r)) {
            return Err(cfg_err(
                "dataset.train_ratio",
                format!("must be in [0, 1], got {r}"),
            ));
        }
        self.dataset_config(0)
            .validate_split()
            .map_err(|e| in_section("dataset", e))?;
        range("eval.batch_size", self.eval.batch_size, 1, MAX_BATCH)?;
        Ok(())
    }

    /// Check what needs the model's width: the LoRA rank is at most the hidden size.
    pub fn check_model(&self, hidden_size: usize) -> Result<()> {
        if self.method == MethodKind::Lora && self.lora.rank > hidden_size {
            return Err(cfg_err(
                "lora.rank",
                format!(
                    "{} exceeds the model's hidden size {hidden_size}",
                    self.lora.rank
                ),
            ));
        }
        Ok(())
    }

    /// The settings a finished association's results depend on: everything but the choice of
    /// associations, the seeds and the thread count (results are the same for any thread count).
    pub fn result_settings(&self) -> serde_json::Value {
        let mut c = self.clone();
        c.assoc = String::new();
        c.assoc_files = Vec::new();
        c.seeds = Vec::new();
        c.threads = None;
        if c.method == MethodKind::Full {
            c.lora = LoraSettings {
                rank: d_rank(),
                alpha: 2.0 * d_rank() as f64,
                targets: d_targets(),
            };
        }
        serde_json::to_value(&c).expect("a RunConfig always serializes")
    }

    /// The dotted keys whose values differ between the result settings of two configs.
    pub fn differing_keys(&self, other: &RunConfig) -> Vec<String> {
        let (a, b) = (self.result_settings(), other.result_settings());
        let mut out = Vec::new();
        diff("", &a, &b, &mut out);
        out
    }
}

fn diff(prefix: &str, a: &serde_json::Value, b: &serde_json::Value, out: &mut Vec<String>) {
    match (a.as_object(), b.as_object()) {
        (Some(x), Some(y)) => {
            let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                let n = serde_json::Value::Null;
                diff(&p, x.get(k).unwrap_or(&n), y.get(k).unwrap_or(&n), out);
            }
        }
        _ if a != b => out.push(prefix.to_string()),
        _ => {}
    }
}

/// Most threads a run may ask for: 4 per core, at most [`MAX_THREADS`].
pub fn max_threads() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (4 * cores).min(MAX_THREADS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> toml::Value {
        RunConfig::parse_toml("model = \"m.gguf\"\n", "t").unwrap()
    }

    fn with(sets: &[&str]) -> Result<RunConfig> {
        let mut v = base();
        apply_sets(
            &mut v,
            &sets.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        RunConfig::from_value(v)
    }

    #[test]
    fn method_dependent_defaults() {
        let full = with(&[]).unwrap();
        assert_eq!((full.train.epochs, full.optim.lr), (8, 1e-4));
        assert_eq!(full.method(), Method::Full);
        assert_eq!(full.seeds, [0]);
        assert!(full.eval.per_epoch);
        let lora = with(&["method=lora", "lora.rank=4"]).unwrap();
        assert_eq!((lora.train.epochs, lora.optim.lr), (12, 1e-3));
        assert_eq!(lora.method(), Method::Lora(LoraConfig::new(4)));
        let d = RunConfig::defaults(
            "m.gguf".into(),
            "all".into(),
            Method::Lora(LoraConfig::new(4)),
        );
        assert_eq!(d, lora);
    }

    #[test]
    fn round_trips_through_toml_and_sets() {
        let c = with(&[
            "method=lora",
            "lora.rank=2",
            "lora.targets=[\"q_proj\"]",
            "seeds=[3, 1]",
            "optim.lr=3e-5",
            "train.schedule=constant",
            "optim.max_grad_norm=0",
            "eval.per_epoch=false",
            "dataset.train_ratio=0.5",
            "threads=1",
            "tokenizer=t.json",
            "assoc_files=[\"a.toml\"]",
        ])
        .unwrap();
        let text = c.to_toml_string();
        let back = RunConfig::from_toml_str(&text, "config.toml").unwrap();
        assert_eq!(back, c, "{text}");
        assert_eq!(RunConfig::from_value(c.to_value()).unwrap(), c);
        // Every key as a --set on an empty tree gives the config back.
        let mut sets = Vec::new();
        for (k, v) in c.to_value().as_table().unwrap() {
            match v.as_table() {
                Some(t) => sets.extend(t.iter().map(|(kk, vv)| format!("{k}.{kk}={vv}"))),
                None => sets.push(format!("{k}={v}")),
            }
        }
        let mut v = toml::Value::Table(Default::default());
        apply_sets(&mut v, &sets).unwrap();
        assert_eq!(RunConfig::from_value(v).unwrap(), c);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: [(&[&str], &str); 20] = [
            (&["optim.lr=0"], "optim.lr"),
            (&["optim.lr=nan"], "optim.lr"),
            (&["optim.lr=-1e-3"], "optim.lr"),
            (&["train.batch_size=0"], "train.batch_size"),
            (&["eval.batch_size=0"], "eval.batch_size"),
            (&["optim.max_grad_norm=nan"], "optim.max_grad_norm"),
            (&["optim.max_grad_norm=-1"], "optim.max_grad_norm"),
            (&["train.epochs=0"], "train.epochs"),
            (&["train.epochs=1000000000"], "train.epochs"),
            (&["train.epochs=1e9"], "train.epochs"),
            (&["threads=100000"], "threads"),
            (&["threads=0"], "threads"),
            (&["method=lora", "lora.rank=0"], "lora.rank"),
            (&["method=lora", "lora.targets=[\"nope\"]"], "lora.targets"),
            (&["method=lora", "lora.alpha=inf"], "lora.alpha"),
            (&["seeds=[]"], "seeds"),
            (&["seeds=[1, 1]"], "seeds"),
            (&["train.lrr=1"], "lrr"),
            (&["bogus=1"], "bogus"),
            (&["dataset.train_ratio=1"], "dataset.train_ratio"),
        ];
        for (sets, key) in cases {
            let e = with(sets).unwrap_err().to_string();
            assert!(e.contains(key), "{sets:?}: {e}");
        }
        let e = with(&["base_dtype=bf16"]).unwrap_err().to_string();
        assert!(e.contains("base_dtype"), "{e}");
        let e = RunConfig::from_toml_str("assoc = \"all\"\n", "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("model"), "{e}");
        let e = RunConfig::from_toml_str("model = \"m\"\ntrain = 3\n", "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("[train]"), "{e}");
        let e = RunConfig::from_toml_str("model = \n", "r.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("r.toml") && e.contains("line 1"), "{e}");
        // The LoRA rank is bounded by the model's width once it is known.
        let c = with(&["method=lora", "lora.rank=64"]).unwrap();
        assert!(c.check_model(64).is_ok());
        let e = c.check_model(32).unwrap_err().to_string();
        assert!(e.contains("lora.rank") && e.contains("32"), "{e}");
    }

    #[test]
    fn result_settings_ignore_seeds_threads_and_choice() {
        let a = with(&["seeds=[0]", "assoc=city-language"]).unwrap();
        let b = with(&["seeds=[0, 1]", "threads=1"]).unwrap();
        assert!(a.differing_keys(&b).is_empty());
        let c = with(&["optim.lr=1e-3"]).unwrap();
        assert_eq!(a.differing_keys(&c), ["optim.lr"]);
    }
}
