//! The authors' code's settings (`authors-main`, `authors-rank-sweep`) and the training orders,
//! end to end. The reference numbers are those of the authors' own code run on this machine
//! (scripts/authors/run_reference.py; the table in the README).

use crate::paper::{preset, LN20};
use oocr_core::config::Order;
use oocr_core::train::{train, Silent};

#[test]
fn authors_main_merged_fits_and_stays_at_ln20() {
    // The authors' code, 3 seeds, 1000 fresh sequences per block: train loss 0.0064, test loss
    // 3.029-3.031, test accuracy 0.045-0.064 (chance among 20 implications is 0.05).
    let out = train(&preset("authors-main", &[]), None, &mut Silent).unwrap();
    let m = out.final_metrics();
    eprintln!("authors-main merged: {m:?}");
    assert!(m.train_loss < 0.02, "{m:?}");
    assert!((m.test_loss - LN20).abs() < 0.15, "{m:?}");
    assert!(m.test_accuracy < 0.25, "{m:?}");
    assert_eq!(out.records.len(), 21);
}

#[test]
fn authors_main_factorized_generalizes() {
    let out = train(
        &preset("authors-main", &["model.param=factorized"]),
        None,
        &mut Silent,
    )
    .unwrap();
    let m = out.final_metrics();
    eprintln!("authors-main factorized: {m:?}");
    assert!(m.train_loss < 0.02, "{m:?}");
    assert!(m.test_accuracy > 0.9, "{m:?}");
}

#[test]
fn authors_rank_sweep_low_rank_generalizes() {
    // The authors' code at r = 4 after 2000 of the script's 20 000 steps: test accuracy 1.0.
    let out = train(
        &preset("authors-rank-sweep", &["train.steps=2000"]),
        None,
        &mut Silent,
    )
    .unwrap();
    let m = out.final_metrics();
    eprintln!("authors-rank-sweep r=4 2000 steps: {m:?}");
    assert!(m.train_loss < 0.05, "{m:?}");
    assert!(m.test_accuracy > 0.9, "{m:?}");
}

#[test]
fn authors_runs_are_deterministic_and_resumable_by_step() {
    let cfg = preset("authors-main", &["train.steps=40", "train.log_every=20"]);
    let a = train(&cfg, None, &mut Silent).unwrap();
    let b = train(&cfg, None, &mut Silent).unwrap();
    assert_eq!(a.model.params, b.model.params);
    assert_eq!(a.final_metrics(), b.final_metrics());
    // A different evaluation size changes the metrics, never the training.
    let c = train(
        &preset(
            "authors-main",
            &["train.steps=40", "train.log_every=20", "train.eval_size=7"],
        ),
        None,
        &mut Silent,
    )
    .unwrap();
    assert_eq!(a.model.params, c.model.params);
    assert_ne!(a.final_metrics(), c.final_metrics());
    let d = train(
        &preset("authors-main", &["train.steps=40", "train.seed=1"]),
        None,
        &mut Silent,
    )
    .unwrap();
    assert_ne!(a.model.params, d.model.params);
}

/// Trains `order` on a small task with GD and returns the metrics at the phase boundary and at
/// the end.
fn two_phases(order: &str) -> (oocr_core::metrics::Metrics, oocr_core::metrics::Metrics) {
    let cfg = preset(
        "paper-factorized",
        &[
            "task.n=5",
            "model.d=0",
            "model.d_h=16",
            &format!("task.order={order}"),
            "train.steps=1200",
            "train.log_every=600",
        ],
    );
    assert_ne!(cfg.task.order, Order::Mixed);
    let out = train(&cfg, None, &mut Silent).unwrap();
    let at = |step: usize| {
        out.records
            .iter()
            .find(|r| r.step == step)
            .unwrap()
            .metrics
            .clone()
    };
    (at(600), at(1200))
}

#[test]
fn fact_first_learns_the_facts_then_the_implications() {
    let (mid, end) = two_phases("fact_first");
    // Phase 1 trains the facts only: they are fitted, the implications are not (their loss is
    // at least chance among the 2n = 10 answers, since the subjects now point to the facts).
    assert!(mid.loss_train_facts < 0.1, "{mid:?}");
    assert!(mid.loss_test_facts < 0.1, "{mid:?}");
    assert!(mid.loss_train_implications > 10f64.ln(), "{mid:?}");
    // Phase 2 trains the implications only.
    assert!(end.loss_train_implications < 0.1, "{end:?}");
}

#[test]
fn impl_first_learns_the_implications_then_the_facts() {
    let (mid, end) = two_phases("impl_first");
    assert!(mid.loss_train_implications < 0.1, "{mid:?}");
    assert!(mid.loss_train_facts > 10f64.ln(), "{mid:?}");
    assert!(
        end.loss_train_facts < 0.1 && end.loss_test_facts < 0.1,
        "{end:?}"
    );
}
