//! Optimizers on the flat parameter vector: constant-step gradient descent and AdamW.

use crate::config::{Optimizer, TrainConfig};

/// An optimizer and its state.
#[derive(Debug, Clone)]
pub enum Optim {
    /// θ ← θ − lr (∇L + wd θ).
    Gd {
        /// Step size.
        lr: f64,
        /// L2 weight decay.
        wd: f64,
    },
    /// AdamW (Loshchilov & Hutter) as in PyTorch: θ ← θ(1 − lr wd) − lr m̂ / (sqrt(v̂) + eps).
    AdamW {
        /// Learning rate.
        lr: f64,
        /// Decoupled weight decay.
        wd: f64,
        /// First-moment decay (0.9).
        beta1: f64,
        /// Second-moment decay (0.999).
        beta2: f64,
        /// Denominator guard (1e-8).
        eps: f64,
        /// First moments.
        m: Vec<f64>,
        /// Second moments.
        v: Vec<f64>,
        /// Steps taken.
        t: u32,
    },
}

impl Optim {
    /// The optimizer of `cfg` for `n` parameters.
    pub fn new(cfg: &TrainConfig, n: usize) -> Optim {
        match cfg.optimizer {
            Optimizer::Gd => Optim::Gd {
                lr: cfg.lr,
                wd: cfg.weight_decay,
            },
            Optimizer::Adamw => Optim::AdamW {
                lr: cfg.lr,
                wd: cfg.weight_decay,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                m: vec![0.0; n],
                v: vec![0.0; n],
                t: 0,
            },
        }
    }

    /// One update where `grad` is known to be zero outside `active`: plain GD then touches only
    /// those ranges (bit-identical to a full step, since p − lr·0 = p); other optimizers update all.
    pub fn step_active(
        &mut self,
        params: &mut [f64],
        grad: &[f64],
        active: &[std::ops::Range<usize>],
    ) {
        match self {
            Optim::Gd { lr, wd } if *wd == 0.0 => {
                let lr = *lr;
                for r in active {
                    for (p, g) in params[r.clone()].iter_mut().zip(&grad[r.clone()]) {
                        *p -= lr * g;
                    }
                }
            }
            _ => self.step(params, grad),
        }
    }

    /// One update of `params` with gradient `grad`.
    pub fn step(&mut self, params: &mut [f64], grad: &[f64]) {
        match self {
            Optim::Gd { lr, wd } => {
                let (lr, wd) = (*lr, *wd);
                if wd == 0.0 {
                    for (p, g) in params.iter_mut().zip(grad) {
                        *p -= lr * g;
                    }
                } else {
                    for (p, g) in params.iter_mut().zip(grad) {
                        *p -= lr * (g + wd * *p);
                    }
                }
            }
            Optim::AdamW {
                lr,
                wd,
                beta1,
                beta2,
                eps,
                m,
                v,
                t,
            } => {
                *t += 1;
                let bc1 = 1.0 - beta1.powi(*t as i32);
                let bc2 = 1.0 - beta2.powi(*t as i32);
                let decay = 1.0 - *lr * *wd;
                for i in 0..params.len() {
                    let g = grad[i];
                    m[i] = *beta1 * m[i] + (1.0 - *beta1) * g;
                    v[i] = *beta2 * v[i] + (1.0 - *beta2) * g * g;
                    let mhat = m[i] / bc1;
                    let vhat = v[i] / bc2;
                    params[i] = params[i] * decay - *lr * mhat / (vhat.sqrt() + *eps);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gd_and_adamw_minimize_a_quadratic() {
        for opt in [Optimizer::Gd, Optimizer::Adamw] {
            let cfg = TrainConfig {
                optimizer: opt,
                lr: 0.1,
                weight_decay: 0.0,
                ..TrainConfig::default()
            };
            let mut o = Optim::new(&cfg, 2);
            let mut p = vec![3.0, -2.0];
            for _ in 0..500 {
                let g: Vec<f64> = p.iter().map(|x| 2.0 * x).collect();
                o.step(&mut p, &g);
            }
            assert!(p.iter().all(|x| x.abs() < 1e-3), "{opt:?}: {p:?}");
        }
    }

    #[test]
    fn adamw_first_step_is_lr_sized_and_decays() {
        let cfg = TrainConfig {
            optimizer: Optimizer::Adamw,
            lr: 0.01,
            weight_decay: 0.5,
            ..TrainConfig::default()
        };
        let mut o = Optim::new(&cfg, 1);
        let mut p = vec![1.0];
        o.step(&mut p, &[123.0]);
        // (1 - 0.01*0.5) * 1 - 0.01 * 1 (m̂/sqrt(v̂) = sign(g) on the first step)
        assert!((p[0] - (0.995 - 0.01)).abs() < 1e-9, "{}", p[0]);
    }
}
