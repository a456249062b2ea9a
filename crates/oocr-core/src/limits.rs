//! Upper bounds on what one run may ask for, checked by [`Config::validate`] before anything is
//! allocated or written: the vocabulary size is computed with checked arithmetic, and the memory a
//! run would hold (task, parameters, gradient, optimizer state, metric workspaces, logged records)
//! is estimated in floating point, so no size can wrap around to a small number.

use crate::config::{Attention, Config, Eval, Optimizer, Param, TaskConfig};

/// Largest vocabulary M = |S| + |R| + |A| + 1 + noise tokens a config may ask for.
pub const MAX_VOCAB: usize = 1 << 24;

/// Largest memory, in bytes, one run may need by [`run_bytes`] (16 GiB).
pub const MAX_RUN_BYTES: f64 = (16u64 << 30) as f64;

/// Bytes of one `f64`.
const F64: f64 = 8.0;

/// The key that drives the number of subjects |S| = n (m_train + m_test) (and the pairs).
fn subject_key(t: &TaskConfig) -> &'static str {
    let per = t.m_train as f64 + t.m_test as f64 + 2.0;
    if t.n as f64 >= per {
        "task.n"
    } else if t.m_train >= t.m_test {
        "task.m_train"
    } else {
        "task.m_test"
    }
}

/// The vocabulary key that drives M = n (m_train + m_test + 2) + 3 + noise_tokens.
pub fn vocab_key(t: &TaskConfig) -> &'static str {
    let per = t.m_train as f64 + t.m_test as f64 + 2.0;
    if t.noise_tokens as f64 > t.n as f64 * per {
        "task.noise_tokens"
    } else {
        subject_key(t)
    }
}

fn largest(terms: &[(&'static str, f64)]) -> &'static str {
    terms
        .iter()
        .fold(terms[0], |best, &t| if t.1 > best.1 { t } else { best })
        .0
}

/// A rough upper estimate, in bytes, of the memory one training run of `cfg` holds at once, by
/// the config key that drives each part: the task's samples, parameters, gradient and optimizer
/// state, the forward cache, the d × d W_OV and its SVD in every metric evaluation, the
/// max-margin reference (fixed attention) and the logged records. Computed in `f64`, so it never
/// overflows.
pub fn run_bytes_by_key(cfg: &Config) -> Vec<(&'static str, f64)> {
    let t = &cfg.task;
    let m = &cfg.model;
    let n = t.n as f64;
    let subjects = n * (t.m_train as f64 + t.m_test as f64);
    let vocab = subjects + 2.0 + 2.0 * n + 1.0 + t.noise_tokens as f64;
    let vkey = vocab_key(t);
    let (d, dkey) = if m.d == 0 {
        (vocab, vkey)
    } else {
        (m.d as f64, "model.d")
    };
    let answers = 2.0 * n;
    let context = subjects + 2.0;
    // Two samples per subject (fact and implication), each with its tokens and bookkeeping.
    let skey = if t.seq_len as f64 * F64 > 96.0 {
        "task.seq_len"
    } else {
        subject_key(t)
    };
    let task = 2.0 * subjects * (t.seq_len as f64 * F64 + 96.0);
    let (weights, wkey) = match m.param {
        Param::Factorized if m.d_h as f64 > d => (2.0 * d * m.d_h as f64, "model.d_h"),
        Param::Factorized => (2.0 * d * m.d_h as f64, dkey),
        Param::Nonfactorized => (d * d, dkey),
    };
    let kappa = match m.attention {
        Attention::Fixed => 0.0,
        Attention::Trainable => vocab,
    };
    let params = weights + kappa;
    // Parameters and gradient, plus AdamW's two moments.
    let copies = match cfg.train.optimizer {
        Optimizer::Gd => 2.0,
        Optimizer::Adamw => 4.0,
    };
    // Forward cache W̃[rows, cols] (at most M × M); metrics: the d × d W_OV, its SVD workspace
    // (a few more d × d) and the answers × context block.
    let metrics = 4.0 * d * d + answers * context;
    // The max-margin reference: two solutions and the certificate's dual (answers × context each).
    let svm = match m.attention {
        Attention::Fixed => 6.0 * answers * context,
        Attention::Trainable => 0.0,
    };
    // A minibatch (its sequences and weights) and the sequences of a fresh evaluation.
    let sequence = t.seq_len as f64 * F64 + 96.0 + F64;
    let batch = cfg.train.batch_size as f64 * sequence;
    let eval = match cfg.train.eval {
        Eval::Fixed => 0.0,
        Eval::Fresh => 4.0 * cfg.train.eval_size as f64 * sequence,
    };
    // Every logged record stays in memory (about 200 bytes each).
    let records = (cfg.train.steps as f64 / cfg.train.log_every.max(1) as f64 + 2.0) * 200.0;
    vec![
        (skey, task),
        (wkey, copies * params * F64),
        (vkey, vocab * vocab * F64 + svm * F64),
        (dkey, metrics * F64),
        ("train.steps", records),
        ("train.batch_size", batch),
        ("train.eval_size", eval),
    ]
}

/// The total of [`run_bytes_by_key`].
pub fn run_bytes(cfg: &Config) -> f64 {
    run_bytes_by_key(cfg).iter().map(|(_, b)| b).sum()
}

/// The key whose part of [`run_bytes_by_key`] is largest.
pub fn run_bytes_key(cfg: &Config) -> &'static str {
    largest(&run_bytes_by_key(cfg))
}

/// `bytes` in the largest binary unit that keeps it at least 1 (e.g. `1.5 TiB`).
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut x = bytes;
    let mut unit = 0;
    while x >= 1024.0 && unit + 1 < UNITS.len() {
        x /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{x:.0} B")
    } else if x >= 1024.0 {
        format!("{x:.3e} {}", UNITS[unit])
    } else {
        format!("{x:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_presets_need_megabytes() {
        for p in crate::presets::all() {
            let b = run_bytes(&p.config);
            assert!(b > 1e5 && b < 1e9, "{}: {}", p.name, human_bytes(b));
        }
    }

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(1536.0), "1.5 KiB");
        assert_eq!(human_bytes(204.8e9), "190.7 GiB");
    }
}
