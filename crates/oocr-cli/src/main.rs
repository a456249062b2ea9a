//! The `oocr` binary: train, inspect and reproduce out-of-context reasoning in transformers.

mod aggregate_cmd;
mod bench;
mod config_args;
#[cfg(feature = "llm")]
mod llm;
mod progress;
mod reproduce_cmd;
mod svm;
mod sweep_cmd;
mod task_cmd;
mod train_cmd;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// oocr: out-of-context reasoning in transformers (Huang et al., NeurIPS 2025), reproduced.
#[derive(Parser)]
#[command(name = "oocr", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// LLM knowledge injection (paper Sec. 2): datasets, fine-tuning (full or LoRA), mean ranks.
    #[cfg(feature = "llm")]
    #[command(subcommand)]
    Llm(llm::LlmCmd),
    /// Rerun the paper's Sections 3–4: figures, report.md/.html, claims.json; prints the claims table.
    Reproduce(reproduce_cmd::ReproduceArgs),
    /// Train the one-layer linear-attention transformer on the symbolic task into a run folder.
    Train(train_cmd::TrainArgs),
    /// Write the symbolic task (vocab.json and the four blocks as JSONL).
    Task(task_cmd::TaskArgs),
    /// List the built-in presets with their values.
    Presets,
    /// Time a full-batch training step (µs/step) on presets.
    Bench(bench::BenchArgs),
    /// Solve the nuclear- or Frobenius-norm max-margin program of a task, with a duality-gap certificate.
    Svm(svm::SvmArgs),
    /// Train every point of a grid file (or one --shard I/N of it); finished points are skipped.
    Sweep(sweep_cmd::SweepArgs),
    /// One row per grid point of a sweep folder: mean ± std over seeds, as CSV or Markdown.
    Aggregate(aggregate_cmd::AggregateArgs),
}

/// Prints to stdout, ignoring a closed pipe (`oocr ... | head` must not panic).
pub fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// Runs the command; a user error prints its message chain (`error: ...: ...`) and exits 1, with no
/// backtrace even when RUST_BACKTRACE is set (backtraces are for bugs, which panic).
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        #[cfg(feature = "llm")]
        Command::Llm(c) => llm::run(c),
        Command::Reproduce(a) => reproduce_cmd::run(a),
        Command::Train(a) => train_cmd::run(a),
        Command::Task(a) => task_cmd::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Svm(a) => svm::run(a),
        Command::Sweep(a) => sweep_cmd::run(a),
        Command::Aggregate(a) => aggregate_cmd::run(a),
        Command::Presets => {
            for p in oocr_core::presets::all() {
                say(&format!(
                    "# {}: {}\n{}",
                    p.name,
                    p.description,
                    p.config.to_toml_string()
                ));
            }
            Ok(())
        }
    }
}
