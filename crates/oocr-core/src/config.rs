//! The run configuration: `[task]`, `[model]`, `[train]`, loaded from presets, TOML files and
//! `--set section.key=value` overrides, validated before any work.

use crate::error::{Error, Result};
use crate::limits::{self, MAX_RUN_BYTES, MAX_VOCAB};
use serde::{Deserialize, Serialize};
use std::io::Read;

/// Largest config or grid file read (1 MiB); a larger one is refused before parsing.
pub const MAX_CONFIG_BYTES: u64 = 1 << 20;

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

/// `[task]`: sizes of the fact/implication task (paper Sec. 3).
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
    /// mixed | fact_first | impl_first: what each step trains on.
    pub order: Order,
    /// Steps of the first phase of `fact_first` / `impl_first`; 0 means half of `train.steps`.
    pub first_phase_steps: usize,
}

/// Training order of the blocks (the authors' code's `train_mode`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// Every step trains on all of D_train.
    #[default]
    Mixed,
    /// First phase: the facts (train and test subjects); second phase: the train implications.
    FactFirst,
    /// First phase: the train implications; second phase: the facts.
    ImplFirst,
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

/// Token embedding. It changes no trained number: the model is stored in the embedding's own
/// frame (see [`crate::model`]), where gradient descent on an orthonormal embedding is exactly
/// gradient descent on one-hot tokens. It only sets which `model.d` is allowed: one-hot needs
/// d = M, orthogonal any d >= M (the paper's d = 128 with M = 123).
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

/// `[model]`: the one-layer linear-attention transformer (paper Sec. 3).
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
    /// Paper Sec. 4, Theorem 2: W_OV(a, z) = α, W_KQ(z) = α·sqrt(|A|+1), α = init_scale.
    Symmetric,
    /// The authors' code's `default`: every parameter, attention included, iid N(0, init_scale^2).
    Authors,
    /// The authors' code's `identity` (with W_K and, merged, W_V frozen at the identity): W_O and
    /// the query column κ constant init_scale; W_V = init_scale·I when d_h = d, else constant.
    #[serde(rename = "authors-identity")]
    AuthorsIdentity,
}

/// How each step's training sequences are drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Sampling {
    /// The task's one sequence per (subject, relation), the same at every step.
    #[default]
    Fixed,
    /// New sequences every step: subjects drawn with replacement, noise tokens redrawn.
    Fresh,
}

/// How the loss weighs the trained blocks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlockWeights {
    /// Every trained sequence weighs the same (blocks in proportion to their sizes).
    #[default]
    Uniform,
    /// Every trained block carries the same share of the loss (the authors' code: a third each).
    Thirds,
}

/// Which sequences the logged metrics are computed on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Eval {
    /// The task's fixed sequences (every subject once per relation).
    #[default]
    Fixed,
    /// `eval_size` freshly drawn sequences per block at every logged step (the authors' code).
    Fresh,
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
    /// gaussian | symmetric | authors | authors-identity.
    pub init: Init,
    /// Init standard deviation (gaussian, authors) or α (symmetric).
    pub init_scale: f64,
    /// Seed of every random choice (task noise, init).
    pub seed: u64,
    /// Log metrics every this many steps (and at the first and last step).
    pub log_every: usize,
    /// Sequences per step; 0 means the full batch (every trained sequence once).
    pub batch_size: usize,
    /// fixed | fresh.
    pub sampling: Sampling,
    /// uniform | thirds.
    pub block_weights: BlockWeights,
    /// ε of the loss −ln(p + ε) (the authors' code: 1e-8); 0 is the exact cross-entropy.
    pub loss_eps: f64,
    /// fixed | fresh.
    pub eval: Eval,
    /// Sequences per block of a fresh evaluation.
    pub eval_size: usize,
}

/// The default of `train.eval_size`.
pub const DEFAULT_EVAL_SIZE: usize = 100;

impl Default for TaskConfig {
    fn default() -> Self {
        TaskConfig {
            n: 20,
            m_train: 1,
            m_test: 3,
            seq_len: 3,
            noise_tokens: 0,
            order: Order::Mixed,
            first_phase_steps: 0,
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
            batch_size: 0,
            sampling: Sampling::Fixed,
            block_weights: BlockWeights::Uniform,
            loss_eps: 0.0,
            eval: Eval::Fixed,
            eval_size: DEFAULT_EVAL_SIZE,
        }
    }
}

impl TaskConfig {
    /// Vocabulary size M = |S| + |R| + |A| + 1 (EOS) + noise tokens, of a validated config
    /// (saturates at `usize::MAX` otherwise; [`TaskConfig::checked_vocab_size`] tells).
    pub fn vocab_size(&self) -> usize {
        self.checked_vocab_size().unwrap_or(usize::MAX)
    }

    /// M, or `None` when it does not fit in a `usize`.
    pub fn checked_vocab_size(&self) -> Option<usize> {
        let subjects = self.n.checked_mul(self.m_train.checked_add(self.m_test)?)?;
        subjects
            .checked_add(self.n.checked_mul(2)?)?
            .checked_add(3)?
            .checked_add(self.noise_tokens)
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
            msg: toml_error_message(text, &e),
        })?;
        Config::from_value(value)
    }

    /// Reads and parses a TOML config file of at most [`MAX_CONFIG_BYTES`].
    pub fn from_file(path: &std::path::Path) -> Result<Config> {
        let text = read_text_capped(path, MAX_CONFIG_BYTES)?;
        Config::from_toml_str(&text, &path.display().to_string())
    }

    /// Deserializes and validates a TOML value tree, naming the offending key on error.
    pub fn from_value(value: toml::Value) -> Result<Config> {
        // A section given as something else than a table (`[[task]]`, `task = 3`) is named as
        // such, not reported as the first field's type.
        if let Some(root) = value.as_table() {
            for (section, v) in root {
                if ["task", "model", "train"].contains(&section.as_str()) && !v.is_table() {
                    return Err(Error::config(
                        section.as_str(),
                        format!(
                            "expected a [{section}] table of keys, got {} (`[[{section}]]` is an \
                             array of tables)",
                            v.type_str()
                        ),
                    ));
                }
            }
        }
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
        match t.checked_vocab_size() {
            Some(v) if v <= MAX_VOCAB => {}
            _ => {
                return Err(Error::config(
                    limits::vocab_key(t),
                    format!(
                        "the vocabulary M = n (m_train + m_test + 2) + 3 + noise_tokens would be \
                         {} tokens; at most {MAX_VOCAB} are supported",
                        t.n as f64 * (t.m_train as f64 + t.m_test as f64 + 2.0)
                            + 3.0
                            + t.noise_tokens as f64
                    ),
                ))
            }
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
        match t.order {
            Order::Mixed if t.first_phase_steps != 0 => {
                return Err(Error::config(
                    "task.first_phase_steps",
                    "only used with task.order = \"fact_first\" or \"impl_first\"",
                ))
            }
            Order::FactFirst | Order::ImplFirst if t.first_phase_steps > tr.steps => {
                return Err(Error::config(
                    "task.first_phase_steps",
                    format!(
                        "{} is more than train.steps = {}",
                        t.first_phase_steps, tr.steps
                    ),
                ))
            }
            Order::FactFirst | Order::ImplFirst if t.m_train == 0 => {
                return Err(Error::config(
                    "task.order",
                    "the implication phase would have no sequence: task.m_train = 0",
                ))
            }
            _ => {}
        }
        if !(tr.loss_eps.is_finite() && tr.loss_eps >= 0.0) {
            return Err(Error::config(
                "train.loss_eps",
                format!("must be >= 0, got {}", tr.loss_eps),
            ));
        }
        if tr.eval == Eval::Fresh && tr.eval_size == 0 {
            return Err(Error::config(
                "train.eval_size",
                "must be at least 1 with train.eval = \"fresh\"",
            ));
        }
        if i64::try_from(tr.seed).is_err() {
            return Err(Error::config(
                "train.seed",
                format!(
                    "{} does not fit in a TOML integer (at most {})",
                    tr.seed,
                    i64::MAX
                ),
            ));
        }
        let bytes = limits::run_bytes(self);
        if bytes > MAX_RUN_BYTES {
            return Err(Error::config(
                limits::run_bytes_key(self),
                format!(
                    "a run would need about {} of memory (task, parameters, gradient, optimizer \
                     state, metrics); the limit is {}",
                    limits::human_bytes(bytes),
                    limits::human_bytes(MAX_RUN_BYTES)
                ),
            ));
        }
        Ok(())
    }
}

/// Splits `section.key=value`; the value is read as one TOML value (number, bool, string,
/// array...), or as a bare string when it is not valid TOML. Control characters (a newline that
/// would smuggle in more TOML) are refused.
pub fn parse_set(s: &str) -> Result<(String, toml::Value)> {
    let bad = |msg: &str| Error::ConfigParse {
        source_name: format!("--set {}", s.escape_debug()),
        msg: msg.into(),
    };
    let (key, raw) = s
        .split_once('=')
        .ok_or_else(|| bad("expected section.key=value"))?;
    if s.chars().any(char::is_control) {
        return Err(bad(
            "contains a control character (newline, tab...); give one value per --set",
        ));
    }
    let key = key.trim().to_string();
    let raw = raw.trim();
    let value = match toml::from_str::<toml::Table>(&format!("v = {raw}")) {
        Ok(mut t) if t.len() == 1 => t.remove("v"),
        _ => None,
    }
    .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    Ok((key, value))
}

/// A TOML parser error as `line L, column C: message`.
pub fn toml_error_message(text: &str, e: &toml::de::Error) -> String {
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("line {line}, column {col}: {}", e.message().trim_end())
        }
        None => e.message().trim_end().to_string(),
    }
}

/// Reads a UTF-8 text file of at most `max` bytes; a larger one (or a device like `/dev/zero`)
/// is refused after reading `max + 1` bytes.
pub fn read_text_capped(path: &std::path::Path, max: u64) -> Result<String> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::io(path, e))?;
    if bytes.len() as u64 > max {
        return Err(Error::ConfigParse {
            source_name: path.display().to_string(),
            msg: format!("larger than {} bytes; not a config file", max),
        });
    }
    String::from_utf8(bytes).map_err(|_| Error::ConfigParse {
        source_name: path.display().to_string(),
        msg: "not UTF-8 text".into(),
    })
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
        assert!(err(&c, &["train.batch_size=-1"]).contains("train.batch_size"));
        assert!(err(&c, &["train.sampling=random"]).contains("train.sampling"));
        assert!(err(&c, &["train.block_weights=halves"]).contains("train.block_weights"));
        assert!(err(&c, &["train.loss_eps=-1e-8"]).contains("train.loss_eps"));
        assert!(err(&c, &["train.eval=both"]).contains("train.eval"));
        assert!(err(&c, &["train.eval=fresh", "train.eval_size=0"]).contains("train.eval_size"));
        assert!(err(&c, &["train.init=identity"]).contains("train.init"));
        assert!(err(&c, &["task.order=random"]).contains("task.order"));
        assert!(err(&c, &["task.first_phase_steps=5"]).contains("task.first_phase_steps"));
        assert!(err(
            &c,
            &["task.order=fact_first", "task.first_phase_steps=5000"]
        )
        .contains("task.first_phase_steps"));
        assert!(err(&c, &["task.order=impl_first", "task.m_train=0"]).contains("task.order"));
        assert!(err(&c, &["train.batch_size=1000000000000"]).contains("train.batch_size"));
        let ok = c
            .with_overrides(&[
                "train.init=authors-identity".into(),
                "task.order=fact_first".into(),
                "train.sampling=fresh".into(),
            ])
            .unwrap();
        assert_eq!(ok.train.init, Init::AuthorsIdentity);
        assert_eq!(ok.task.order, Order::FactFirst);
    }

    #[test]
    fn unknown_keys_in_files_are_rejected() {
        let e = Config::from_toml_str("[train]\nlr = 1.0\nlrr = 2.0\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("lrr"), "{e}");
        let e = Config::from_toml_str("[train\n", "f.toml").unwrap_err();
        assert!(e.to_string().contains("f.toml"), "{e}");
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use crate::testutil::fixed;
    use proptest::prelude::*;

    /// Valid configs: every field in its allowed range, with the cross-field rules respected.
    fn valid_config() -> impl Strategy<Value = Config> {
        let task = (1usize..30, 0usize..4, 0usize..4, 3usize..8, 1usize..5).prop_map(
            |(n, m_train, m_test, seq_len, noise)| TaskConfig {
                n,
                m_train: if m_train + m_test == 0 { 1 } else { m_train },
                m_test,
                seq_len,
                noise_tokens: if seq_len > 3 { noise } else { noise - 1 },
                order: Order::Mixed,
                first_phase_steps: 0,
            },
        );
        let model = (
            any::<bool>(),
            1usize..64,
            any::<bool>(),
            any::<bool>(),
            0usize..3,
            any::<bool>(),
        );
        let train = (
            any::<bool>(),
            1e-6f64..10.0,
            prop_oneof![Just(0.0), 0.0f64..1.0],
            0usize..5000,
            0usize..4,
            1e-6f64..1.0,
            0u64..=i64::MAX as u64,
            1usize..500,
        );
        let extra = (
            0usize..3,
            0usize..300,
            any::<bool>(),
            any::<bool>(),
            prop_oneof![Just(0.0), 0.0f64..1e-3],
            any::<bool>(),
            1usize..200,
            0usize..3,
        );
        (task, model, train, extra).prop_map(
            |(mut task, (fac, d_h, att, onehot, dsel, vocab), tr, ex)| {
                task.order = [Order::Mixed, Order::FactFirst, Order::ImplFirst][ex.0];
                if task.order != Order::Mixed {
                    task.m_train = task.m_train.max(1);
                    task.first_phase_steps = [0, tr.3 / 3, tr.3][ex.7];
                }
                let m = task.vocab_size();
                let d = match (onehot, dsel) {
                    (true, 0) | (false, 0) => 0,
                    (true, _) => m,
                    (false, k) => m + 17 * (k - 1),
                };
                Config {
                    task,
                    model: ModelConfig {
                        param: if fac {
                            Param::Factorized
                        } else {
                            Param::Nonfactorized
                        },
                        d_h,
                        attention: if att {
                            Attention::Fixed
                        } else {
                            Attention::Trainable
                        },
                        embedding: if onehot {
                            Embedding::Onehot
                        } else {
                            Embedding::Orthogonal
                        },
                        d,
                        softmax: if vocab {
                            Softmax::Answers
                        } else {
                            Softmax::Vocab
                        },
                    },
                    train: TrainConfig {
                        optimizer: if tr.0 {
                            Optimizer::Gd
                        } else {
                            Optimizer::Adamw
                        },
                        lr: tr.1,
                        weight_decay: tr.2,
                        steps: tr.3,
                        init: [
                            Init::Gaussian,
                            Init::Symmetric,
                            Init::Authors,
                            Init::AuthorsIdentity,
                        ][tr.4],
                        init_scale: tr.5,
                        seed: tr.6,
                        log_every: tr.7,
                        batch_size: ex.1,
                        sampling: if ex.2 {
                            Sampling::Fixed
                        } else {
                            Sampling::Fresh
                        },
                        block_weights: if ex.3 {
                            BlockWeights::Uniform
                        } else {
                            BlockWeights::Thirds
                        },
                        loss_eps: ex.4,
                        eval: if ex.5 { Eval::Fixed } else { Eval::Fresh },
                        eval_size: ex.6,
                    },
                }
            },
        )
    }

    /// Every key of a config as `--set section.key=value` arguments.
    fn as_sets(cfg: &Config) -> Vec<String> {
        let mut out = Vec::new();
        for (section, table) in cfg.to_value().as_table().unwrap() {
            for (key, value) in table.as_table().unwrap() {
                out.push(format!("{section}.{key}={value}"));
            }
        }
        out
    }

    proptest! {
        #![proptest_config(fixed(256))]

        #[test]
        fn valid_configs_round_trip_through_toml_and_sets(cfg in valid_config()) {
            prop_assert_eq!(cfg.validate().map_err(|e| e.to_string()), Ok(()));
            let back = Config::from_toml_str(&cfg.to_toml_string(), "c.toml").unwrap();
            prop_assert_eq!(&back, &cfg);
            prop_assert_eq!(&Config::from_value(cfg.to_value()).unwrap(), &cfg);
            let via_sets = Config::default().with_overrides(&as_sets(&cfg)).unwrap();
            prop_assert_eq!(&via_sets, &cfg);
        }

        #[test]
        fn set_parsing_never_panics_and_keeps_the_key(s in any::<String>()) {
            match parse_set(&s) {
                Ok((key, _)) => {
                    prop_assert!(!s.chars().any(char::is_control));
                    prop_assert_eq!(key, s.split_once('=').unwrap().0.trim());
                }
                Err(e) => prop_assert!(e.to_string().contains("--set")),
            }
        }

        #[test]
        fn set_values_parse_as_their_toml_type(
            i in any::<i64>(),
            x in -1e300f64..1e300,
            b in any::<bool>(),
            word in "[a-z]{1,12}",
        ) {
            prop_assert_eq!(parse_set(&format!("a.b={i}")).unwrap().1, toml::Value::Integer(i));
            prop_assert_eq!(parse_set(&format!("a.b={x:?}")).unwrap().1, toml::Value::Float(x));
            prop_assert_eq!(parse_set(&format!("a.b = {b} ")).unwrap().1, toml::Value::Boolean(b));
            prop_assume!(!["true", "false", "inf", "nan"].contains(&word.as_str()));
            prop_assert_eq!(parse_set(&format!("a.b={word}")).unwrap().1, toml::Value::String(word));
        }
    }

    /// Fragments of config files, well-formed and not, for the bounded fuzz run.
    const FRAGMENTS: &[&str] = &[
        "[task]",
        "[model]",
        "[train]",
        "[[task]]",
        "[bogus]",
        "[task.sub]",
        "n = 5",
        "n = 0",
        "n = -1",
        "n = 9223372036854775807",
        "m_train = 4611686018427387904",
        "m_test = 2",
        "seq_len = 6",
        "noise_tokens = 3",
        "d_h = 8",
        "d_h = 100000000",
        "d = 0",
        "d = 50",
        "param = \"nonfactorized\"",
        "param = 3",
        "attention = \"trainable\"",
        "embedding = \"onehot\"",
        "softmax = \"vocab\"",
        "lr = 0.5",
        "lr = nan",
        "lr = -inf",
        "lr = \"fast\"",
        "weight_decay = 1e-3",
        "steps = 10",
        "init = \"symmetric\"",
        "init_scale = 0",
        "seed = 7",
        "log_every = 0",
        "optimizer = \"adamw\"",
        "x = [1, 2]",
        "task = 3",
        "n = { a = 1 }",
        "\"",
        "=",
        "[",
        "]]",
        "# comment",
        "",
        "n = 1.5",
        "model.d_h = 4",
        "train = { lr = 2.0 }",
    ];

    proptest! {
        #![proptest_config(fixed(1000))]

        /// Bounded fuzz run of config parsing: any mix of fragments gives a valid config that
        /// round-trips, or an error naming the source (parse errors with their line).
        #[test]
        fn config_parsing_fuzz(lines in prop::collection::vec(prop::sample::select(FRAGMENTS), 0..12)) {
            let text = lines.join("\n");
            match Config::from_toml_str(&text, "fuzz.toml") {
                Ok(cfg) => {
                    prop_assert!(cfg.validate().is_ok());
                    prop_assert_eq!(Config::from_toml_str(&cfg.to_toml_string(), "x").unwrap(), cfg);
                }
                Err(Error::ConfigParse { source_name, msg }) => {
                    prop_assert_eq!(source_name, "fuzz.toml");
                    prop_assert!(msg.starts_with("line "), "{}", msg);
                }
                Err(Error::Config { key, .. }) => prop_assert!(!key.is_empty()),
                Err(other) => prop_assert!(false, "unexpected error {}", other),
            }
        }
    }
}
