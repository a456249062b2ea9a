//! `oocr bench`: time per full-batch training step (loss, hand-derived gradient, optimizer update).

use anyhow::Result;
use oocr_core::grad::{loss_and_grad, Workspace};
use oocr_core::optim::Optim;
use oocr_core::{presets, train::setup};
use std::time::Instant;

/// Arguments of `oocr bench`.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Presets to time (default: paper-factorized and paper-nonfactorized).
    #[arg(long = "preset")]
    pub presets: Vec<String>,
    /// Steps per timed batch.
    #[arg(long, default_value_t = 500)]
    pub steps: usize,
    /// Timed batches; the median batch is reported.
    #[arg(long, default_value_t = 7)]
    pub repeats: usize,
}

/// Runs `oocr bench` and prints µs per step for each preset.
pub fn run(args: BenchArgs) -> Result<()> {
    if args.steps == 0 {
        anyhow::bail!("--steps must be at least 1");
    }
    if args.repeats == 0 {
        anyhow::bail!("--repeats must be at least 1");
    }
    let names = if args.presets.is_empty() {
        vec![
            "paper-factorized".to_string(),
            "paper-nonfactorized".to_string(),
        ]
    } else {
        args.presets.clone()
    };
    let configs = names
        .iter()
        .map(|n| Ok((n.clone(), presets::preset(n)?.config)))
        .collect::<Result<Vec<_>>>()?;
    crate::say(&format!(
        "| preset | params | µs/step (median of {} × {} steps) | min |",
        args.repeats, args.steps
    ));
    crate::say("|---|---|---|---|");
    for (name, cfg) in configs {
        let (task, mut model) = setup(&cfg);
        let mut opt = Optim::new(&cfg.train, model.params.len());
        let mut ws = Workspace::default();
        let mut grad = vec![0.0; model.params.len()];
        let samples = task.train_samples();
        let active = model.active_ranges();
        for _ in 0..args.steps.min(200) {
            loss_and_grad(&model, samples, &mut ws, &mut grad);
            opt.step_active(&mut model.params, &grad, &active);
        }
        let mut times = Vec::new();
        for _ in 0..args.repeats {
            let t = Instant::now();
            for _ in 0..args.steps {
                let l = loss_and_grad(&model, samples, &mut ws, &mut grad);
                std::hint::black_box(l);
                opt.step_active(&mut model.params, &grad, &active);
            }
            times.push(t.elapsed().as_secs_f64() * 1e6 / args.steps as f64);
        }
        times.sort_by(f64::total_cmp);
        crate::say(&format!(
            "| {name} | {} | {:.1} | {:.1} |",
            model.params.len(),
            times[times.len() / 2],
            times[0]
        ));
    }
    Ok(())
}
