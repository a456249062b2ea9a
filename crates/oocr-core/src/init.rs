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
/// - `authors`: every parameter, attention included, iid N(0, s²).
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
