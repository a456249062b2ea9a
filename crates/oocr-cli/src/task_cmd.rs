//! `oocr task`: write the generated task (vocabulary and the four blocks) as JSON/JSONL.

use crate::config_args::ConfigArgs;
use anyhow::{Context, Result};
use oocr_core::run::write_json;
use oocr_core::{Block, Task};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `oocr task`.
#[derive(clap::Args, Debug)]
pub struct TaskArgs {
    #[command(flatten)]
    /// Config source and overrides (only [task] and train.seed matter).
    pub config: ConfigArgs,
    /// Output folder: vocab.json and one JSONL file per block.
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `oocr task`.
pub fn run(args: TaskArgs) -> Result<()> {
    let cfg = args.config.resolve()?;
    let task = Task::new(&cfg.task, cfg.train.seed);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let vocab: BTreeMap<usize, String> = (0..task.vocab_size())
        .map(|z| (z, task.token_name(z)))
        .collect();
    write_json(&args.out.join("vocab.json"), &vocab)?;
    for b in Block::ALL {
        let path = args.out.join(format!("{}.jsonl", b.name()));
        let mut text = String::new();
        for s in task.block(b) {
            let names: Vec<String> = s.tokens.iter().map(|&z| task.token_name(z)).collect();
            let line = serde_json::json!({
                "tokens": s.tokens, "names": names, "target": s.target,
                "target_name": task.token_name(s.target), "pair": s.pair + 1,
            });
            text += &format!("{line}\n");
        }
        std::fs::File::create(&path)
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    crate::say(&format!(
        "task: n = {}, |S| = {}, M = {}, |D_train| = {}, |D_test| = {} -> {}",
        task.cfg.n,
        task.n_subjects(),
        task.vocab_size(),
        task.train_samples().len(),
        task.test_samples().len(),
        args.out.display()
    ));
    Ok(())
}
