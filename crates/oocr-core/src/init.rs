//! Parameter initialization: gaussian, symmetric (Theorem 2), and the authors' code.

use crate::config::{Attention, Init, Param, TrainConfig};
use crate::model::Model;
use crate::rng::{normal, rng, Stream};
use crate::task::Task;

/// Fills `model.params` according to `cfg.init` and `cfg.init_scale`, seeded by `cfg.seed`.
///
/// - `gaussian`: every weight iid N(0, s²); trainable attention starts at the fixed pattern
///   (1 on subjects and relations, 0 elsewhere).
/// - `symmetric`: W_OV(a, z) = α on the M × M token block (factorized: W_O = W_V = sqrt(α/d_h) there,
///   so that W_O W_Vᵀ = α), and κ(z) = α·sqrt(|A| + 1) for every token.
/// - `authors`: every parameter, attention included, iid N(0, s²) (the authors' code's `default`).
/// - `authors-identity`: the authors' code's `identity`: W_O, W_OV and κ constant s, W_V = s·I
///   (d_h = d) or constant s.
pub fn initialize(model: &mut Model, cfg: &TrainConfig, task: &Task) {
    let s = cfg.init_scale;
    let nw = model.n_weights();
    let (d, m) = (model.d, model.vocab);
    let mut r = rng(cfg.seed, Stream::Init);
    match cfg.init {
        Init::Gaussian | Init::Authors => {
            for p in model.params.iter_mut() {
                *p = s * normal(&mut r);
            }
            if cfg.init == Init::Gaussian && model.attention == Attention::Trainable {
                let pattern: Vec<f64> = (0..m)
                    .map(|z| if z <= task.r2() { 1.0 } else { 0.0 })
                    .collect();
                model.params[nw..].copy_from_slice(&pattern);
            }
        }
        Init::AuthorsIdentity => {
            // In token coordinates (the model's frame): W_O = s·1 (all ones), W_V = s·I when
            // d_h = d (else s·1), merged W_OV = s·1 (W_V frozen at I), κ = s on every token
            // (W_Q = s·1 with W_K frozen at I).
            model.params.fill(s);
            if model.param == Param::Factorized && model.d_h == d {
                let half = d * d;
                model.params[half..2 * half].fill(0.0);
                for k in 0..d {
                    model.params[half + k * d + k] = s;
                }
            }
        }
        Init::Symmetric => {
            model.params.fill(0.0);
            match model.param {
                Param::Factorized => {
                    let v = (s / model.d_h as f64).sqrt();
                    let (dh, half) = (model.d_h, d * model.d_h);
                    for k in 0..dh {
                        for z in 0..m {
                            model.params[k * d + z] = v;
                            model.params[half + k * d + z] = v;
                        }
                    }
                }
                Param::Nonfactorized => {
                    for c in 0..m {
                        for z in 0..m {
                            model.params[c * d + z] = s;
                        }
                    }
                }
            }
            let k = s * ((task.answers().len() + 1) as f64).sqrt();
            model.params[nw..].fill(k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn init(sets: &[&str]) -> Model {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let cfg = Config::default().with_overrides(&sets).unwrap();
        let task = Task::new(&cfg.task, 0);
        let mut m = Model::zeros(&cfg, &task);
        initialize(&mut m, &cfg.train, &task);
        m
    }

    #[test]
    fn authors_identity_matches_their_constants() {
        let base = [
            "task.n=3",
            "model.embedding=onehot",
            "model.d=0",
            "model.attention=trainable",
            "train.init=authors-identity",
            "train.init_scale=1e-4",
        ];
        let mut sets = base.to_vec();
        sets.push("model.param=nonfactorized");
        let m = init(&sets);
        assert!(m.params.iter().all(|&p| p == 1e-4));
        assert!(m.kappa().iter().all(|&k| k == 1e-4));
        // Factorized with d_h = d: W_V = 1e-4 I, so W_O W_Vᵀ = 1e-8 everywhere.
        let d = m.d.to_string();
        let mut sets = base.to_vec();
        let dh = format!("model.d_h={d}");
        sets.push(&dh);
        let f = init(&sets);
        let w = f.w_ov();
        assert!((0..f.d).all(|i| (0..f.d).all(|j| (w[(i, j)] - 1e-8).abs() < 1e-20)));
        assert!(f.kappa().iter().all(|&k| k == 1e-4));
        // d_h != d: W_V constant too, W_O W_Vᵀ = d_h · 1e-8.
        let mut sets = base.to_vec();
        sets.push("model.d_h=4");
        let g = init(&sets);
        assert!((g.w_ov()[(0, 1)] - 4e-8).abs() < 1e-20);
    }
}
