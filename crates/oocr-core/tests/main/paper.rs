//! The paper's Sec. 3-4 outcomes, measured end to end on the built-in presets and other sizes.

use oocr_core::metrics::evaluate;
use oocr_core::model::Model;
use oocr_core::train::{setup, train, Silent};
use oocr_core::{presets, Config};

/// A preset with `--set`-style overrides applied.
pub fn preset(name: &str, sets: &[&str]) -> Config {
    let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
    presets::preset(name)
        .unwrap()
        .config
        .with_overrides(&sets)
        .unwrap()
}

/// ln 20: the loss of a uniform guess among the 20 implications.
pub const LN20: f64 = 2.995_732_273_553_991;

#[test]
fn paper_factorized_generalizes() {
    let out = train(&preset("paper-factorized", &[]), None, &mut Silent).unwrap();
    let m = out.final_metrics();
    assert!(m.train_loss < 1e-2, "train loss {}", m.train_loss);
    assert!(m.test_loss < 0.05, "test loss {}", m.test_loss);
    assert_eq!(m.test_accuracy, 1.0);
    assert!(m.margin_test_vs_implications_min > 0.0);
}

#[test]
fn paper_nonfactorized_fits_but_does_not_generalize() {
    let out = train(&preset("paper-nonfactorized", &[]), None, &mut Silent).unwrap();
    let m = out.final_metrics();
    assert!(m.train_loss < 1e-2, "train loss {}", m.train_loss);
    assert!(m.test_loss >= LN20, "test loss {}", m.test_loss);
    assert!(m.test_mean_rank >= 9.0, "mean rank {}", m.test_mean_rank);
    // From W_OV = 0 the test implications tie exactly: margin 0 against the other implications.
    assert!(m.margin_test_vs_implications_min.abs() < 1e-9);
    // The learned test-implication block carries no pair information: within each test subject's
    // column, every implication gets the same weight (exactly zero once centered).
    let w = out.model.w_answers_context(&out.task);
    let task = &out.task;
    let a0 = task.answers().start;
    for s in task.test_samples() {
        let col: Vec<f64> = (0..task.cfg.n)
            .map(|i| w[(task.implication(i) - a0, s.subject)])
            .collect();
        let spread = col.iter().cloned().fold(f64::NEG_INFINITY, f64::max)
            - col.iter().cloned().fold(f64::INFINITY, f64::min);
        assert!(
            spread < 1e-9,
            "test subject {} implication column spread {spread}",
            s.subject
        );
    }
}

#[test]
fn nonfactorized_random_init_ranks_near_chance() {
    for seed in 0..3 {
        // From W_OV = 0 every test implication ties and one fact ranks above: rank 10.5.
        // A random init breaks the ties at random, so the rank wanders around that value.
        let cfg = preset(
            "paper-nonfactorized",
            &["train.init_scale=0.01", &format!("train.seed={seed}")],
        );
        let m = train(&cfg, None, &mut Silent)
            .unwrap()
            .final_metrics()
            .clone();
        assert!(
            m.train_loss < 1e-2,
            "seed {seed}: train loss {}",
            m.train_loss
        );
        assert!(
            m.test_loss >= LN20,
            "seed {seed}: test loss {}",
            m.test_loss
        );
        assert!(
            m.test_mean_rank >= 9.0,
            "seed {seed}: mean rank {}",
            m.test_mean_rank
        );
        assert!(
            (m.test_mean_rank - 10.5).abs() < 2.0,
            "seed {seed}: mean rank {}",
            m.test_mean_rank
        );
    }
}

#[test]
fn other_sizes_same_outcomes() {
    let sets = ["task.n=7", "task.m_train=2", "task.m_test=5"];
    let f = train(&preset("paper-factorized", &sets), None, &mut Silent).unwrap();
    let m = f.final_metrics();
    assert!(
        m.train_loss < 1e-2 && m.test_loss < 0.05 && m.test_accuracy == 1.0,
        "{m:?}"
    );
    let n = train(&preset("paper-nonfactorized", &sets), None, &mut Silent).unwrap();
    let m = n.final_metrics();
    assert!(m.train_loss < 1e-2, "{m:?}");
    assert!(m.test_loss >= 7f64.ln(), "{m:?}");
    assert!(m.test_mean_rank >= (7.0 - 1.0) / 2.0, "{m:?}");
}

#[test]
fn proposition1_merged_equals_factorized_product() {
    // d_h >= d: the merged model with W_OV = W_O W_Vᵀ computes the same logits and losses.
    let cfg = preset(
        "paper-factorized",
        &["task.n=5", "model.d=40", "model.d_h=48", "train.steps=200"],
    );
    let out = train(&cfg, None, &mut Silent).unwrap();
    let merged_cfg = cfg
        .with_overrides(&["model.param=nonfactorized".into()])
        .unwrap();
    let (task, mut merged) = setup(&merged_cfg);
    let w = out.model.w_ov();
    for j in 0..merged.d {
        for i in 0..merged.d {
            merged.params[j * merged.d + i] = w[(i, j)];
        }
    }
    let (a, b) = (
        evaluate(&out.model, &task, None),
        evaluate(&merged, &task, None),
    );
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * (1.0 + x.abs());
    for (x, y) in [
        (a.train_loss, b.train_loss),
        (a.test_loss, b.test_loss),
        (a.margin_train_min, b.margin_train_min),
        (a.nuclear_norm, b.nuclear_norm),
    ] {
        assert!(close(x, y), "{x} vs {y}");
    }
    let (ea, eb) = (out.model.effective(), merged.effective());
    let mut la = vec![0.0; ea.rows.len()];
    let mut lb = la.clone();
    for s in &task.samples {
        ea.logits(&s.tokens, &mut la);
        eb.logits(&s.tokens, &mut lb);
        assert!(la.iter().zip(&lb).all(|(x, y)| close(*x, *y)));
    }
    let _: &Model = &merged;
}

#[test]
fn dh4_generalizes_dh3_does_not() {
    let f4 = train(
        &preset("paper-factorized", &["model.d_h=4", "train.steps=6000"]),
        None,
        &mut Silent,
    )
    .unwrap();
    let m4 = f4.final_metrics();
    assert!(
        m4.test_accuracy == 1.0 && m4.test_loss < 0.5,
        "d_h = 4: {m4:?}"
    );
    let f3 = train(
        &preset("paper-factorized", &["model.d_h=3", "train.steps=6000"]),
        None,
        &mut Silent,
    )
    .unwrap();
    let m3 = f3.final_metrics();
    assert!(
        m3.test_accuracy < 0.9 && m3.test_loss > 1.0,
        "d_h = 3: {m3:?}"
    );
}

#[test]
fn bit_identical_across_threads() {
    let cfg = preset("paper-factorized", &["task.n=6", "train.steps=300"]);
    let a = train(&cfg, None, &mut Silent).unwrap();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let cfg = cfg.clone();
            std::thread::spawn(move || train(&cfg, None, &mut Silent).unwrap().model.params)
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), a.model.params);
    }
}
