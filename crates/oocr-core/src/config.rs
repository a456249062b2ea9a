//! The run configuration: `[task]`, `[model]`, `[train]`, loaded from presets, TOML files and
//! `--set section.key=value` overrides, validated before any work.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// The whole configuration of one training run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The symbolic task.
    #[serde(default)]
    pub task: TaskConfig,
    /// The transformer.
    #[serde(default)]
    pub model: ModelConfig,
    /// The optimizer and schedule.
    #[serde(default)]
    pub train: TrainConfig,
}

/// `[task]`: sizes of the fact/implication task (SPEC §2).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TaskConfig {
    /// Number of (fact, implication) pairs.
    pub n: usize,
    /// Training subjects per pair (their implications are trained on).
    pub m_train: usize,
    /// Test subjects per pair (only their facts are trained on).
    pub m_test: usize,
    /// Sequence length: 3 is [s, r, EOS]; longer pads with random noise tokens.
    pub seq_len: usize,
    /// Number of distinct noise tokens added to the vocabulary.
    pub noise_tokens: usize,
}

/// Output-value parameterization.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Param {
    /// W_O W_V^T with W_O, W_V ∈ R^{d×d_h}.
    Factorized,
    /// A single merged W_OV ∈ R^{d×d}.
    Nonfactorized,
}

/// Attention: fixed pattern or trainable W_KQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attention {
    /// W_KQ(s) = W_KQ(r) = 1, every other token 0.
    Fixed,
    /// W_KQ is trained.
    Trainable,
}

/// Token embedding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Embedding {
    /// d = M, token z is e_z.
    Onehot,
    /// d >= M orthonormal columns, seeded.
    Orthogonal,
}

/// Which tokens the softmax normalizes over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Softmax {
    /// The answer set A (the theory's choice).
    Answers,
    /// The whole vocabulary (the authors' code).
    Vocab,
}

/// `[model]`: the one-layer linear-attention transformer (SPEC §3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// factorized | nonfactorized.
    pub param: Param,
    /// Head dimension of W_O and W_V (factorized only).
    pub d_h: usize,
    /// fixed | trainable.
    pub attention: Attention,
    /// onehot | orthogonal.
    pub embedding: Embedding,
    /// Embedding dimension; omitted or 0 means d = M (the vocabulary size).
    pub d: usize,
    /// answers | vocab.
    pub softmax: Softmax,
}

/// Optimizer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Optimizer {
    /// Full-batch gradient descent with a constant step.
    Gd,
    /// AdamW (betas 0.9, 0.999, eps 1e-8, decoupled weight decay).
    Adamw,
}

/// Initialization scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// Weights iid N(0, init_scale^2); trainable attention starts at the fixed pattern.
    Gaussian,
    /// SPEC §4 Theorem 2: W_OV(a, z) = α, W_KQ(z) = α·sqrt(|A|+1), α = init_scale.
    Symmetric,
    /// The authors' code: every parameter, attention included, iid N(0, init_scale^2).
    Authors,
}

/// `[train]`: optimizer, schedule, initialization, seed, logging.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    /// gd | adamw.
    pub optimizer: Optimizer,
    /// Learning rate (step size).
    pub lr: f64,
    /// Weight decay (L2 for gd, decoupled for adamw).
    pub weight_decay: f64,
    /// Number of optimizer steps.
    pub steps: usize,
    /// gaussian | symmetric | authors.
    pub init: Init,
    /// Init standard deviation (gaussian, authors) or α (symmetric).
    pub init_scale: f64,
    /// Seed of every random choice (task noise, embedding, init).
    pub seed: u64,
    /// Log metrics every this many steps (and at the first and last step).
    pub log_every: usize,
}

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            n: 20,
            m_train: 1,
            m_test: 3,
            seq_len: 3,
            noise_tokens: 0,
        }
    }
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig {
            param: Param::Factorized,
            d_h: 128,
            attention: Attention::Fixed,
            embedding: Embedding::Orthogonal,
            d: 128,
            softmax: Softmax::Answers,
        }
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            optimizer: Optimizer::Gd,
            lr: 1.0,
            weight_decay: 0.0,
            steps: 3000,
            init: Init::Gaussian,
            init_scale: 0.01,
            seed: 0,
            log_every: 100,
        }
    }
}

impl TaskConfig {
    /// Vocabulary size M = |S| + |R| + |A| + 1 (EOS) + noise tokens.
    pub fn vocab_size(&self) -> usize {
        self.n * (self.m_train + self.m_test) + 2 + 2 * self.n + 1 + self.noise_tokens
    }
}

impl ModelConfig {
    /// The embedding dimension actually used: `d`, or M when `d` is 0.
    pub fn dim(&self, vocab_size: usize) -> usize {
        if self.d == 0 {
            vocab_size
        } else {
            self.d
        }
    }
}

impl Config {
    /// Parses a TOML string (a whole or partial config; missing keys take defaults).
    pub fn from_toml_str(text: &str, source_name: &str) -> Result<Config> {
        let value: toml::Value = toml::from_str(text).map_err(|e| Error::ConfigParse {
            source_name: source_name.to_string(),
            msg: e.message().to_string(),
        })?;
        Config::from_value(value)
    }

    /// Deserializes and validates a TOML value tree, naming the offending key on error.
    pub fn from_value(value: toml::Value) -> Result<Config> {
        let cfg: Config = serde_path_to_error::deserialize(value).map_err(|e| {
            let key = e.path().to_string();
            Error::config(
                if key == "." {
                    "(top level)".into()
                } else {
                    key
                },
                e.inner().to_string(),
            )
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// This config as a TOML value tree.
    pub fn to_value(&self) -> toml::Value {
        toml::Value::try_from(self).expect("a Config always serializes")
    }

    /// This config as TOML text (the resolved config of a run folder).
    pub fn to_toml_string(&self) -> String {
        toml::to_string_pretty(self).expect("a Config always serializes")
    }

    /// Applies `section.key=value` overrides to `base` and re-validates.
    pub fn with_overrides(&self, sets: &[String]) -> Result<Config> {
        let mut value = self.to_value();
        for s in sets {
            let (key, v) = parse_set(s)?;
            set_dotted(&mut value, &key, v)?;
        }
        Config::from_value(value)
    }

    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<()> {
        let t = &self.task;
        let m = &self.model;
        let tr = &self.train;
        if t.n == 0 {
            return Err(Error::config("task.n", "must be at least 1"));
        }
        if t.m_train + t.m_test == 0 {
            return Err(Error::config(
                "task.m_train",
                "m_train and m_test are both 0: there would be no subjects",
            ));
        }
        if t.seq_len < 3 {
            return Err(Error::config(
                "task.seq_len",
                "must be at least 3 ([s, r, EOS])",
            ));
        }
        if t.seq_len > 3 && t.noise_tokens == 0 {
            return Err(Error::config(
                "task.noise_tokens",
                format!(
                    "seq_len = {} needs noise_tokens >= 1 to pad with",
                    t.seq_len
                ),
            ));
        }
        if m.d_h == 0 {
            return Err(Error::config("model.d_h", "must be at least 1"));
        }
        let vocab = t.vocab_size();
        match m.embedding {
            Embedding::Onehot if m.d != 0 && m.d != vocab => {
                return Err(Error::config(
                    "model.d",
                    format!(
                        "one-hot embeddings need d = M = {vocab} (or d = 0), got {}",
                        m.d
                    ),
                ))
            }
            Embedding::Orthogonal if m.d != 0 && m.d < vocab => {
                return Err(Error::config(
                    "model.d",
                    format!("orthogonal embeddings need d >= M = {vocab}, got {}", m.d),
                ))
            }
            _ => {}
        }
        if !(tr.lr.is_finite() && tr.lr > 0.0) {
            return Err(Error::config(
                "train.lr",
                format!("must be > 0, got {}", tr.lr),
            ));
        }
        if !(tr.weight_decay.is_finite() && tr.weight_decay >= 0.0) {
            return Err(Error::config(
                "train.weight_decay",
                format!("must be >= 0, got {}", tr.weight_decay),
            ));
        }
        if !(tr.init_scale.is_finite() && tr.init_scale >= 0.0) {
            return Err(Error::config(
                "train.init_scale",
                format!("must be >= 0, got {}", tr.init_scale),
            ));
        }
        if tr.init_scale == 0.0 && m.param == Param::Factorized {
            return Err(Error::config(
                "train.init_scale",
                "0 is a saddle point of the factorized model (every gradient is zero)",
            ));
        }
        if tr.log_every == 0 {
            return Err(Error::config("train.log_every", "must be at least 1"));
        }
        Ok(())
    }
}

/// Splits `section.key=value`; the value is read as TOML (number, bool, string...), or as a
/// bare string when it is not valid TOML.
pub fn parse_set(s: &str) -> Result<(String, toml::Value)> {
    let (key, raw) = s.split_once('=').ok_or_else(|| Error::ConfigParse {
        source_name: format!("--set {s}"),
        msg: "expected section.key=value".into(),
    })?;
    let key = key.trim().to_string();
    let raw = raw.trim();
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    Ok((key, value))
}

/// Sets a dotted key (`train.lr`) in a TOML tree; sections must exist or are created.
pub fn set_dotted(root: &mut toml::Value, key: &str, value: toml::Value) -> Result<()> {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.len() < 2 || parts.iter().any(|p| p.is_empty()) {
        return Err(Error::config(key, "expected section.key, e.g. train.lr"));
    }
    let mut node = root;
    for p in &parts[..parts.len() - 1] {
        let table = node
            .as_table_mut()
            .ok_or_else(|| Error::config(key, format!("`{p}` is not a section")))?;
        node = table
            .entry(p.to_string())
            .or_insert_with(|| toml::Value::Table(Default::default()));
    }
    let table = node
        .as_table_mut()
        .ok_or_else(|| Error::config(key, "parent is not a section"))?;
    table.insert(parts[parts.len() - 1].to_string(), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(cfg: &Config, sets: &[&str]) -> String {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        cfg.with_overrides(&sets).unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid_and_roundtrip() {
        let c = Config::default();
        c.validate().unwrap();
        let back = Config::from_toml_str(&c.to_toml_string(), "x").unwrap();
        assert_eq!(c, back);
        assert_eq!(c.task.vocab_size(), 123);
    }

    #[test]
    fn overrides_apply() {
        let c = Config::default()
            .with_overrides(&["train.lr=0.5".into(), "model.param=nonfactorized".into()])
            .unwrap();
        assert_eq!(c.train.lr, 0.5);
        assert_eq!(c.model.param, Param::Nonfactorized);
    }

    #[test]
    fn bad_values_name_their_key() {
        let c = Config::default();
        assert!(err(&c, &["task.n=0"]).contains("task.n"));
        assert!(err(&c, &["task.m_train=0", "task.m_test=0"]).contains("task.m_train"));
        assert!(err(&c, &["train.lr=0"]).contains("train.lr"));
        assert!(err(&c, &["train.lr=-1"]).contains("train.lr"));
        assert!(err(&c, &["train.lr=abc"]).contains("train.lr"));
        assert!(err(&c, &["model.d_h=0"]).contains("model.d_h"));
        assert!(err(&c, &["model.d=100"]).contains("model.d"));
        assert!(err(&c, &["train.bogus=1"]).contains("bogus"));
        assert!(err(&c, &["bogus.key=1"]).contains("bogus"));
        assert!(err(&c, &["model.param=merged"]).contains("model.param"));
        assert!(err(&c, &["lr=1"]).contains("section.key"));
    }

    #[test]
    fn unknown_keys_in_files_are_rejected() {
        let e = Config::from_toml_str("[train]\nlr = 1.0\nlrr = 2.0\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("lrr"), "{e}");
        let e = Config::from_toml_str("[train\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("f.toml"), "{e}");
    }
}
