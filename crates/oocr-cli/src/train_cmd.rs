//! `oocr train`: one training run into a run folder.

use crate::config_args::ConfigArgs;
use crate::progress::bar;
use anyhow::{Context, Result};
use oocr_core::metrics::Metrics;
use oocr_core::run::RunDir;
use oocr_core::train::{train, Observer, Record};
use std::path::PathBuf;

/// Arguments of `oocr train`.
#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    /// Config source and overrides.
    pub config: ConfigArgs,
    /// Run folder to create (config.toml, metrics.jsonl, summary.json).
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite an existing, non-empty run folder.
    #[arg(long)]
    pub force: bool,
}

struct Progress {
    run: RunDir,
    bar: indicatif::ProgressBar,
}

impl Observer for Progress {
    fn on_step(&mut self, step: usize, loss: f64) {
        if step.is_multiple_of(64) {
            self.bar.set_position(step as u64);
            self.bar.set_message(format!("train loss {loss:.3e}"));
        }
    }
    fn on_record(&mut self, record: &Record) -> oocr_core::Result<()> {
        self.run.append(record)
    }
}

/// Runs `oocr train`.
pub fn run(args: TrainArgs) -> Result<()> {
    let cfg = args.config.resolve()?;
    // With fixed attention, both max-margin solutions are solved once for the cosine metrics
    // (milliseconds; before the run folder, so a failure leaves nothing behind).
    let svm = oocr_core::svm::reference_for(&cfg).context("solving the SVM reference")?;
    let run = RunDir::create(&args.out, &cfg, args.force)?;
    let mut obs = Progress {
        run,
        bar: bar(cfg.train.steps as u64, "train"),
    };
    let outcome = train(&cfg, svm.as_ref(), &mut obs).with_context(|| {
        format!(
            "training stopped; metrics so far are in {}",
            args.out.join("metrics.jsonl").display()
        )
    })?;
    obs.bar.finish_and_clear();
    obs.run.finish(&cfg, &outcome)?;
    crate::say(&format_summary(
        outcome.final_metrics(),
        cfg.train.steps,
        outcome.elapsed_s,
    ));
    crate::say(&format!("run folder: {}", args.out.display()));
    Ok(())
}

/// A short human-readable table of the final metrics.
pub fn format_summary(m: &Metrics, steps: usize, secs: f64) -> String {
    let mut s = format!("after {steps} steps ({secs:.2} s):\n");
    for (key, v) in Metrics::KEYS.iter().zip(m.values()) {
        let label = key.replace('_', " ");
        match *key {
            "rank" => s += &format!("  {label:<32} {}\n", m.rank),
            _ if v.is_nan() => s += &format!("  {label:<32} n/a\n"),
            _ => s += &format!("  {label:<32} {v:.4}\n"),
        }
    }
    s.pop();
    s
}
