//! `oocr reproduce`: rerun the paper's Sections 3–4, write the report, print the claims table.

use crate::progress::bar;
use anyhow::{bail, Context, Result};
use clap::Args;
use oocr_report::claims;
use oocr_report::reproduce::{plan, reproduce, total_steps, Options, Scale};
use std::path::PathBuf;

/// Arguments of `oocr reproduce`.
#[derive(Args)]
pub struct ReproduceArgs {
    /// Output folder: report.md, report.html, claims.json, figures (PNG + SVG), runs/, data/.
    #[arg(long, default_value = "reproduce")]
    pub out: PathBuf,
    /// Fewer steps and sweep points (about a minute): a first look, and CI.
    #[arg(long)]
    pub quick: bool,
}

/// Runs the reproduction; fails (non-zero exit) when any claim fails.
pub fn run(args: ReproduceArgs) -> Result<()> {
    let runs = plan(&Scale::new(args.quick)).context("building the experiment plan")?;
    let pb = bar(total_steps(&runs), "reproduce");
    pb.set_message(format!("{} runs", runs.len()));
    let tick = |k: u64| pb.inc(k);
    let opts = Options {
        out: args.out.clone(),
        quick: args.quick,
    };
    let rep = reproduce(&opts, &tick)
        .with_context(|| format!("reproducing into {}", args.out.display()))?;
    pb.finish_and_clear();
    crate::say(&format!(
        "wrote {} ({:.1} s)\n",
        args.out.join("report.html").display(),
        rep.elapsed_s
    ));
    crate::say(&claims::table(&rep.claims));
    if !rep.all_pass() {
        bail!(
            "some claims failed; see {}",
            args.out.join("report.md").display()
        );
    }
    Ok(())
}
