//! `oocr aggregate`: one row per grid point of a sweep folder, mean ± std over seeds.

use anyhow::{bail, Context, Result};
use oocr_core::aggregate::aggregate;
use std::path::PathBuf;

/// Arguments of `oocr aggregate`.
#[derive(clap::Args, Debug)]
pub struct AggregateArgs {
    /// Sweep folder (run folders with summary.json directly under it).
    pub dir: PathBuf,
    /// Output file: `.csv` (full precision) or `.md` (mean ± std); repeatable. Without it,
    /// the Markdown table goes to stdout.
    #[arg(long)]
    pub out: Vec<PathBuf>,
}

/// Runs `oocr aggregate`.
pub fn run(args: AggregateArgs) -> Result<()> {
    for path in &args.out {
        match path.extension().and_then(|e| e.to_str()) {
            Some("csv") | Some("md") => {}
            _ => bail!("--out {}: expected a .csv or .md file", path.display()),
        }
    }
    let table =
        aggregate(&args.dir).with_context(|| format!("aggregating {}", args.dir.display()))?;
    if table.rows.is_empty() {
        bail!(
            "{}: no finished runs (no */summary.json)",
            args.dir.display()
        );
    }
    for path in &args.out {
        let text = match path.extension().and_then(|e| e.to_str()) {
            Some("md") => table.to_markdown(),
            _ => table.to_csv(),
        };
        oocr_core::run::write_atomic(path, text.as_bytes())?;
    }
    let runs: usize = table.rows.iter().map(|r| r.seeds.len()).sum();
    let failed: usize = table.rows.iter().map(|r| r.failed).sum();
    if args.out.is_empty() {
        crate::say(&table.to_markdown());
    }
    crate::say(&format!(
        "{} grid points, {runs} finished runs, {failed} failed, {} unfinished{}",
        table.rows.len(),
        table.unfinished.len(),
        args.out
            .iter()
            .map(|p| format!("; wrote {}", p.display()))
            .collect::<String>()
    ));
    Ok(())
}
