//! The `oocr` binary.
use clap::Parser;

/// oocr: out-of-context reasoning in transformers, reproduced.
#[derive(Parser)]
#[command(name = "oocr", version)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
