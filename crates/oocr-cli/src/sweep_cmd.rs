//! `oocr sweep`: train every point of a grid file (or one shard of it) into a sweep folder.

use crate::progress::bar;
use anyhow::{Context, Result};
use oocr_core::sweep::{PointLog, Shard, Status, Sweep};
use std::path::PathBuf;

/// Largest `--jobs`.
pub const MAX_JOBS: usize = 256;

/// Arguments of `oocr sweep`.
#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Grid file: `preset = "..."` or `config = "FILE"`, `seeds = [...]`, `[grid]` of dotted keys → lists.
    #[arg(long)]
    pub grid: PathBuf,
    /// Run only the points whose index ≡ I−1 (mod N), 1-based; e.g. a Slurm array task's
    /// `--shard $((SLURM_ARRAY_TASK_ID+1))/$SLURM_ARRAY_TASK_COUNT`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<String>,
    /// Sweep folder: one run folder per point (named by its config hash), sweep.json, points*.jsonl.
    #[arg(long)]
    pub out: PathBuf,
    /// Points trained at once (default: one per CPU; at most 256, and never more threads than
    /// this shard has points). Results do not depend on it.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Only validate the grid and list the points this shard would run.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `oocr sweep`; fails (after finishing every other point) when a point failed.
pub fn run(args: SweepArgs) -> Result<()> {
    let shard: Shard = match &args.shard {
        Some(s) => s.parse()?,
        None => Shard::ALL,
    };
    match args.jobs {
        Some(0) => anyhow::bail!("--jobs must be at least 1"),
        Some(j) if j > MAX_JOBS => {
            anyhow::bail!("--jobs {j}: at most {MAX_JOBS} (each job is one training thread)")
        }
        _ => {}
    }
    let sweep = Sweep::load(&args.grid)?;
    let selected = sweep.selected(shard);
    crate::say(&format!(
        "{}: {} points ({} seeds × {} grid points), shard {shard} runs {}",
        args.grid.display(),
        sweep.points.len(),
        sweep.seeds.len(),
        sweep.points.len() / sweep.seeds.len(),
        selected.len()
    ));
    if args.dry_run {
        for p in &selected {
            let o: Vec<String> = p
                .overrides
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            crate::say(&format!(
                "{:>5} {} seed={} {}",
                p.index,
                p.folder,
                p.seed,
                o.join(" ")
            ));
        }
        return Ok(());
    }
    let pb = bar(selected.len() as u64, "sweep");
    let on_point = |log: &PointLog| {
        pb.inc(1);
        if log.status == Status::Failed {
            pb.suspend(|| {
                eprintln!(
                    "point {} ({}) failed: {}",
                    log.index,
                    log.folder,
                    log.error.as_deref().unwrap_or("")
                )
            });
        }
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = args.jobs.unwrap_or(cpus).min(selected.len()).max(1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .context("starting the thread pool")?;
    let report = pool.install(|| sweep.run(&args.out, shard, &on_point))?;
    pb.finish_and_clear();
    let failed = report.count(Status::Failed);
    crate::say(&format!(
        "shard {shard}: {} done, {} skipped, {} failed; log {}",
        report.count(Status::Done),
        report.count(Status::Skipped),
        failed,
        args.out.join(shard.log_name()).display()
    ));
    if failed > 0 {
        for l in report.failed() {
            crate::say(&format!(
                "  failed: point {} in {}: {}",
                l.index,
                l.folder,
                l.error.as_deref().unwrap_or("")
            ));
        }
        anyhow::bail!(
            "{failed} point(s) failed (recorded in error.json of their folders); \
             the other points finished — fix and rerun to retry only the unfinished ones"
        );
    }
    Ok(())
}
