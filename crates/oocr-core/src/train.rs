//! The trainer: optimization of the model on D_train (full batch by default, or the minibatches
//! of [`crate::batch`]), with metrics every `log_every` steps.

use crate::batch::{fresh_eval_set, train_loss_shares, Batcher};
use crate::config::{Config, Eval};
use crate::error::{Error, Result};
use crate::grad::{loss_and_grad_weighted, Workspace};
use crate::init::initialize;
use crate::metrics::{evaluate, evaluate_on, Metrics, SvmReference};
use crate::model::Model;
use crate::optim::Optim;
use crate::task::Task;
use serde::Serialize;
use std::time::Instant;

/// One logged point: the step (number of updates so far) and the metrics there.
#[derive(Debug, Clone, Serialize)]
pub struct Record {
    /// Optimizer steps taken.
    pub step: usize,
    /// Metrics at that step.
    #[serde(flatten)]
    pub metrics: Metrics,
}

/// Receives progress and logged records during training.
pub trait Observer {
    /// Called after every optimizer step.
    fn on_step(&mut self, _step: usize, _train_loss: f64) {}
    /// Called at every logged step (0, every `log_every`, and the last); an error stops training.
    fn on_record(&mut self, _record: &Record) -> Result<()> {
        Ok(())
    }
    /// Asked after every optimizer step; `true` stops the run there (cancellation, e.g. Ctrl-C):
    /// that step is logged and [`train`] returns the outcome so far with `stopped_at` set.
    fn should_stop(&mut self) -> bool {
        false
    }
}

/// An observer that does nothing.
pub struct Silent;
impl Observer for Silent {}

/// Everything a finished run produced.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The task trained on.
    pub task: Task,
    /// The trained model.
    pub model: Model,
    /// Every logged record, the final one last.
    pub records: Vec<Record>,
    /// Wall-clock seconds of the training loop (metrics included).
    pub elapsed_s: f64,
    /// The step at which [`Observer::should_stop`] stopped the run; `None` when it ran to the end.
    pub stopped_at: Option<usize>,
}

impl Outcome {
    /// The metrics after the last step.
    pub fn final_metrics(&self) -> &Metrics {
        &self
            .records
            .last()
            .expect("at least the initial record")
            .metrics
    }
}

/// The task and the initialized model of `cfg`, before any step.
pub fn setup(cfg: &Config) -> (Task, Model) {
    let task = Task::new(&cfg.task, cfg.train.seed);
    let mut model = Model::zeros(cfg, &task);
    initialize(&mut model, &cfg.train, &task);
    (task, model)
}

/// Trains `cfg` from scratch. `svm`, when given, adds the cosine alignments to every record.
/// A non-finite loss or gradient stops the run with [`Error::Diverged`] (records logged so far
/// have already been handed to `observer`).
pub fn train(
    cfg: &Config,
    svm: Option<&SvmReference>,
    observer: &mut dyn Observer,
) -> Result<Outcome> {
    let start = Instant::now();
    let (task, mut model) = setup(cfg);
    let mut opt = Optim::new(&cfg.train, model.params.len());
    let mut ws = Workspace::default();
    let mut grad = vec![0.0; model.params.len()];
    let mut records = Vec::new();
    let (steps, every) = (cfg.train.steps, cfg.train.log_every);
    let active = model.active_ranges();
    let mut stopped_at = None;
    let mut batcher = Batcher::new(cfg, &task);
    let eps = cfg.train.loss_eps;
    log(0, cfg, &model, &task, svm, observer, &mut records)?;
    for step in 1..=steps {
        let batch = batcher.batch(step, &task);
        let loss = loss_and_grad_weighted(
            &model,
            batch.samples,
            batch.weights,
            eps,
            &mut ws,
            &mut grad,
        );
        if !loss.is_finite() {
            return Err(Error::Diverged {
                step,
                what: "the train loss".into(),
            });
        }
        if !active
            .iter()
            .all(|r| grad[r.clone()].iter().all(|g| g.is_finite()))
        {
            return Err(Error::Diverged {
                step,
                what: "the gradient".into(),
            });
        }
        opt.step_active(&mut model.params, &grad, &active);
        observer.on_step(step, loss);
        let stop = observer.should_stop();
        if stop || step.is_multiple_of(every) || step == steps {
            log(step, cfg, &model, &task, svm, observer, &mut records)?;
            let last = &records.last().expect("just logged").metrics;
            if !last.train_loss.is_finite() {
                return Err(Error::Diverged {
                    step,
                    what: "the train loss".into(),
                });
            }
        }
        if stop {
            stopped_at = Some(step);
            break;
        }
    }
    Ok(Outcome {
        task,
        model,
        records,
        elapsed_s: start.elapsed().as_secs_f64(),
        stopped_at,
    })
}

/// The metrics of `model` at `step`: on the task's fixed sequences, or on a fresh evaluation set.
pub fn metrics_at(
    step: usize,
    cfg: &Config,
    model: &Model,
    task: &Task,
    svm: Option<&SvmReference>,
) -> Metrics {
    let tr = &cfg.train;
    let shares = train_loss_shares(cfg, task);
    match tr.eval {
        Eval::Fixed if shares.is_none() && tr.loss_eps == 0.0 => evaluate(model, task, svm),
        Eval::Fixed => evaluate_on(model, task, &task.samples, shares, tr.loss_eps, svm),
        Eval::Fresh => {
            let samples = fresh_eval_set(task, tr.seed, step, tr.eval_size);
            evaluate_on(model, task, &samples, shares, tr.loss_eps, svm)
        }
    }
}

fn log(
    step: usize,
    cfg: &Config,
    model: &Model,
    task: &Task,
    svm: Option<&SvmReference>,
    observer: &mut dyn Observer,
    records: &mut Vec<Record>,
) -> Result<()> {
    let record = Record {
        step,
        metrics: metrics_at(step, cfg, model, task, svm),
    };
    observer.on_record(&record)?;
    records.push(record);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(sets: &[&str]) -> Config {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        Config::default().with_overrides(&sets).unwrap()
    }

    #[test]
    fn same_seed_is_bit_identical() {
        let cfg = small(&[
            "task.n=5",
            "model.d=0",
            "model.embedding=onehot",
            "model.d_h=8",
            "train.steps=50",
            "train.log_every=10",
        ]);
        let a = train(&cfg, None, &mut Silent).unwrap();
        let b = train(&cfg, None, &mut Silent).unwrap();
        assert_eq!(a.model.params, b.model.params);
        assert_eq!(a.final_metrics(), b.final_metrics());
        assert_eq!(a.records.len(), 6);
        let c = train(
            &small(&[
                "task.n=5",
                "model.d=0",
                "model.embedding=onehot",
                "model.d_h=8",
                "train.steps=50",
                "train.seed=1",
            ]),
            None,
            &mut Silent,
        )
        .unwrap();
        assert_ne!(a.model.params, c.model.params);
    }

    #[test]
    fn active_ranges_hold_every_nonzero_gradient() {
        use crate::grad::{loss_and_grad, Workspace};
        for sets in [
            vec!["task.n=4", "model.d=40", "model.d_h=6"],
            vec!["task.n=4", "model.d=40", "model.param=nonfactorized"],
            vec![
                "task.n=4",
                "model.d=40",
                "model.attention=trainable",
                "model.softmax=vocab",
                "task.seq_len=6",
                "task.noise_tokens=2",
            ],
        ] {
            let cfg = small(&sets);
            let (task, model) = setup(&cfg);
            let mut grad = vec![f64::NAN; model.params.len()];
            grad.fill(0.0);
            loss_and_grad(
                &model,
                task.train_samples(),
                &mut Workspace::default(),
                &mut grad,
            );
            let mut inside = vec![false; grad.len()];
            for r in model.active_ranges() {
                inside[r].fill(true);
            }
            assert!(
                grad.iter().zip(&inside).all(|(g, &i)| i || *g == 0.0),
                "{sets:?}"
            );
            assert!(grad.iter().any(|g| *g != 0.0));
        }
    }

    /// Stops after `at` steps, as a Ctrl-C handler would.
    struct StopAt(usize, usize);
    impl Observer for StopAt {
        fn on_step(&mut self, step: usize, _loss: f64) {
            self.1 = step;
        }
        fn should_stop(&mut self) -> bool {
            self.1 >= self.0
        }
    }

    #[test]
    fn a_stop_request_keeps_the_metrics_so_far() {
        let cfg = small(&[
            "task.n=4",
            "model.d=0",
            "model.embedding=onehot",
            "model.d_h=4",
            "train.steps=100",
            "train.log_every=10",
        ]);
        let out = train(&cfg, None, &mut StopAt(25, 0)).unwrap();
        assert_eq!(out.stopped_at, Some(25));
        let steps: Vec<usize> = out.records.iter().map(|r| r.step).collect();
        assert_eq!(steps, [0, 10, 20, 25]);
        // The run up to the stop is the same run: its records match an uninterrupted one.
        let full = train(&cfg, None, &mut Silent).unwrap();
        assert_eq!(full.stopped_at, None);
        assert_eq!(out.records[2].metrics, full.records[2].metrics);
        let short = train(
            &small(&[
                "task.n=4",
                "model.d=0",
                "model.embedding=onehot",
                "model.d_h=4",
                "train.steps=25",
                "train.log_every=10",
            ]),
            None,
            &mut Silent,
        )
        .unwrap();
        assert_eq!(out.model.params, short.model.params);
    }

    #[test]
    fn divergence_is_reported() {
        let cfg = small(&[
            "task.n=3",
            "model.d=0",
            "model.embedding=onehot",
            "model.d_h=4",
            "train.lr=1e6",
            "train.init_scale=1.0",
            "train.steps=200",
        ]);
        match train(&cfg, None, &mut Silent) {
            Err(Error::Diverged { step, .. }) => assert!(step >= 1),
            other => panic!(
                "expected divergence, got {:?}",
                other.map(|o| o.final_metrics().train_loss)
            ),
        }
    }
}
