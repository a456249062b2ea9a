//! Cross-entropy loss over D_train and its gradient, derived by hand (checked against finite
//! differences in the tests below).
//!
//! With δ_a = (p_a − y_a)/N for each sample, and W̃ = P_O P_Vᵀ (or P_OV):
//! ```text
//! ∂L/∂W̃(a, z_t) += κ(z_t) δ_a        ∂L/∂κ(z_t) += Σ_a δ_a W̃(a, z_t)
//! ∂L/∂P_O[rows] = G P_V[cols]        ∂L/∂P_V[cols] = Gᵀ P_O[rows]        (G = ∂L/∂W̃)
//! ```

use crate::config::{Attention, Param};
use crate::fastexp::{exp_nonpos, exp_shifted_sum};
use crate::model::{Effective, Model};
use crate::task::Sample;
use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};

/// Buffers reused across steps, so a training step allocates nothing.
#[derive(Debug, Clone, Default)]
pub struct Workspace {
    /// Forward cache.
    pub eff: Effective,
    g: Vec<f64>,
    logits: Vec<f64>,
}

/// Mean cross-entropy over `samples` (computed on `ws.eff`, which must be current).
pub fn loss(ws: &mut Workspace, samples: &[Sample]) -> f64 {
    let eff = &ws.eff;
    let nr = eff.rows.len();
    ws.logits.resize(nr, 0.0);
    let mut total = 0.0;
    for s in samples {
        eff.logits(&s.tokens, &mut ws.logits);
        total += xent_from_logits(&ws.logits, s.target - eff.rows.start);
    }
    total / samples.len() as f64
}

/// Cross-entropy of `target` under softmax(`logits`), without modifying them.
pub fn xent_from_logits(logits: &[f64], target: usize) -> f64 {
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logits.iter().map(|l| exp_nonpos(l - max)).sum();
    sum.ln() - (logits[target] - max)
}

/// Turns `logits` into δ = (softmax − onehot(target)) · scale in place; returns the cross-entropy.
pub fn xent_delta(logits: &mut [f64], target: usize, scale: f64) -> f64 {
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let shifted_target = logits[target] - max;
    let sum = exp_shifted_sum(logits, max);
    let k = scale / sum;
    for l in logits.iter_mut() {
        *l *= k;
    }
    logits[target] -= scale;
    sum.ln() - shifted_target
}

/// −ln(p_target + eps) under softmax(`logits`) (eps = 0: the cross-entropy), without modifying them.
pub fn xent_eps_from_logits(logits: &[f64], target: usize, eps: f64) -> f64 {
    if eps == 0.0 {
        return xent_from_logits(logits, target);
    }
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logits.iter().map(|l| exp_nonpos(l - max)).sum();
    -(exp_nonpos(logits[target] - max) / sum + eps).ln()
}

/// Turns `logits` into δ = ∂[−ln(p_target + eps)]/∂logits · scale in place and returns the loss.
/// With q = p_target / (p_target + eps), δ = q (softmax − onehot(target)); eps = 0 is
/// [`xent_delta`].
pub fn xent_eps_delta(logits: &mut [f64], target: usize, scale: f64, eps: f64) -> f64 {
    if eps == 0.0 {
        return xent_delta(logits, target, scale);
    }
    let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let sum = exp_shifted_sum(logits, max);
    let p = logits[target] / sum;
    let q = p / (p + eps);
    let k = scale * q / sum;
    for l in logits.iter_mut() {
        *l *= k;
    }
    logits[target] -= scale * q;
    -(p + eps).ln()
}

/// Mean cross-entropy over `samples` and its gradient with respect to `model.params`, written
/// into `grad` (same layout). Refreshes `ws.eff` first.
pub fn loss_and_grad(
    model: &Model,
    samples: &[Sample],
    ws: &mut Workspace,
    grad: &mut [f64],
) -> f64 {
    loss_and_grad_weighted(model, samples, None, 0.0, ws, grad)
}

/// The loss Σ_i w_i · (−ln(p_i + eps)) over `samples` (w_i = `weights[i]`, or 1/N when `None`)
/// and its gradient, written into `grad`. Refreshes `ws.eff` first.
pub fn loss_and_grad_weighted(
    model: &Model,
    samples: &[Sample],
    weights: Option<&[f64]>,
    eps: f64,
    ws: &mut Workspace,
    grad: &mut [f64],
) -> f64 {
    model.effective_into(&mut ws.eff);
    let eff = &ws.eff;
    let (nr, nc) = (eff.rows.len(), eff.cols.len());
    ws.g.clear();
    ws.g.resize(nr * nc, 0.0);
    ws.logits.resize(nr, 0.0);
    let nw = model.n_weights();
    let trainable = model.attention == Attention::Trainable;
    if trainable {
        grad[nw..].fill(0.0);
    }
    let inv_n = 1.0 / samples.len() as f64;
    let mut total = 0.0;
    for (i, s) in samples.iter().enumerate() {
        eff.logits(&s.tokens, &mut ws.logits);
        let target = s.target - eff.rows.start;
        match weights {
            None => total += xent_eps_delta(&mut ws.logits, target, inv_n, eps),
            Some(w) => total += w[i] * xent_eps_delta(&mut ws.logits, target, w[i], eps),
        }
        for &z in &s.tokens {
            if !eff.cols.contains(&z) {
                continue;
            }
            let c = z - eff.cols.start;
            let k = eff.kappa[z];
            if trainable {
                let col = &eff.w[c * nr..][..nr];
                grad[nw + z] += col.iter().zip(&ws.logits).map(|(w, d)| w * d).sum::<f64>();
            }
            if k != 0.0 {
                let gcol = &mut ws.g[c * nr..][..nr];
                for (g, d) in gcol.iter_mut().zip(&ws.logits) {
                    *g += k * d;
                }
            }
        }
    }
    let g = MatRef::from_column_major_slice(&ws.g, nr, nc);
    let (rows, cols, d, dh) = (eff.rows.clone(), eff.cols.clone(), model.d, model.d_h);
    match model.param {
        Param::Factorized => {
            let (go, gv) = grad[..2 * d * dh].split_at_mut(d * dh);
            let go = MatMut::from_column_major_slice_mut(go, d, dh);
            let gv = MatMut::from_column_major_slice_mut(gv, d, dh);
            let po = model.p_o().subrows(rows.start, nr);
            let pv = model.p_v().subrows(cols.start, nc);
            matmul(
                go.subrows_mut(rows.start, nr),
                Accum::Replace,
                g,
                pv,
                1.0,
                Par::Seq,
            );
            matmul(
                gv.subrows_mut(cols.start, nc),
                Accum::Replace,
                g.transpose(),
                po,
                1.0,
                Par::Seq,
            );
        }
        Param::Nonfactorized => {
            let gov = MatMut::from_column_major_slice_mut(&mut grad[..d * d], d, d);
            gov.submatrix_mut(rows.start, cols.start, nr, nc)
                .copy_from(g);
        }
    }
    match weights {
        None => total * inv_n,
        Some(_) => total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::init::initialize;
    use crate::task::Task;

    /// Central finite differences on a random subset of coordinates, against the analytic gradient.
    fn check(sets: &[&str]) {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let base = [
            "task.n=3",
            "task.m_train=1",
            "task.m_test=2",
            "model.d_h=5",
            "train.init_scale=0.5",
        ];
        let mut all: Vec<String> = base.iter().map(|s| s.to_string()).collect();
        all.extend(sets);
        let cfg = Config::default().with_overrides(&all).unwrap();
        let task = Task::new(&cfg.task, 3);
        let mut model = Model::zeros(&cfg, &task);
        initialize(&mut model, &cfg.train, &task);
        // Break symmetric inits so every coordinate matters.
        for (i, p) in model.params.iter_mut().enumerate() {
            *p += 0.05 * ((i * 7919 % 13) as f64 / 13.0 - 0.5);
        }
        let samples = task.train_samples();
        let mut ws = Workspace::default();
        let mut grad = vec![0.0; model.params.len()];
        loss_and_grad(&model, samples, &mut ws, &mut grad);
        let h = 1e-6;
        let mut worst: f64 = 0.0;
        let step = (model.params.len() / 300).max(1);
        for i in (0..model.params.len()).step_by(step) {
            let orig = model.params[i];
            model.params[i] = orig + h;
            model.effective_into(&mut ws.eff);
            let lp = loss(&mut ws, samples);
            model.params[i] = orig - h;
            model.effective_into(&mut ws.eff);
            let lm = loss(&mut ws, samples);
            model.params[i] = orig;
            let fd = (lp - lm) / (2.0 * h);
            worst = worst.max((fd - grad[i]).abs() / (1.0 + grad[i].abs()));
        }
        assert!(worst < 1e-7, "{all:?}: worst relative error {worst:e}");
        assert!(
            grad.iter().any(|g| g.abs() > 1e-6),
            "{all:?}: gradient vanished"
        );
    }

    #[test]
    fn factorized_fixed_answers() {
        check(&["model.embedding=onehot", "model.d=0"]);
    }
    #[test]
    fn factorized_orthogonal_d_larger_than_m() {
        check(&["model.d=30"]);
    }
    #[test]
    fn nonfactorized_fixed_answers() {
        check(&[
            "model.param=nonfactorized",
            "model.embedding=onehot",
            "model.d=0",
        ]);
    }
    #[test]
    fn trainable_attention_vocab_softmax() {
        check(&[
            "model.attention=trainable",
            "model.softmax=vocab",
            "model.d=30",
        ]);
        check(&[
            "model.attention=trainable",
            "model.softmax=vocab",
            "model.param=nonfactorized",
            "model.d=30",
        ]);
    }
    #[test]
    fn noise_tokens_trainable_attention() {
        check(&[
            "task.seq_len=8",
            "task.noise_tokens=3",
            "model.attention=trainable",
            "model.d=30",
            "train.init=authors",
        ]);
    }
    #[test]
    fn symmetric_init() {
        check(&[
            "model.param=nonfactorized",
            "model.attention=trainable",
            "train.init=symmetric",
            "model.d=30",
        ]);
    }

    #[test]
    fn softmax_xent_is_stable() {
        assert!(xent_from_logits(&[1000.0, 0.0, -1000.0], 0).abs() < 1e-12);
        assert!((xent_from_logits(&[-1000.0, 0.0], 0) - 1000.0).abs() < 1e-9);
        assert!((xent_from_logits(&[0.0; 4], 2) - 4f64.ln()).abs() < 1e-15);
    }
}
