//! `oocr llm`: the LLM knowledge-injection experiment of the paper (Sec. 2) on real causal LMs.
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use oocr_llm::dataset::{Catalog, Dataset, DatasetConfig};
use oocr_llm::experiment::{encode_train, evaluate, run_with, EvalConfig, RunOptions};
use oocr_llm::lora::{make_trainable, LoraConfig, Method};
use oocr_llm::optim::AdamW;
use oocr_llm::run_config::{apply_sets, set_key, RunConfig};
use oocr_llm::train::{train, Schedule, TrainConfig};
use std::path::PathBuf;

/// LLM knowledge injection: datasets, fine-tuning (full or LoRA) and mean-rank evaluation.
#[derive(Subcommand)]
pub enum LlmCmd {
    /// Write an association's dataset: train.jsonl, test.jsonl and meta.json per association.
    Dataset {
        /// Association name (city-language, city-language-cf, country-code, profession-color,
        /// sport-music, or one of --assoc-file), comma-separated names, or `all`.
        #[arg(long, default_value = "all")]
        assoc: String,
        #[command(flatten)]
        files: AssocFiles,
        /// Output folder (one sub-folder per association).
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        data: DataArgs,
    },
    /// Fine-tune a model on each association; write results.json and results.md (mean ranks
    /// before and after).
    Run(Box<RunArgs>),
    /// Evaluate a model without training (a base model, or a checkpoint fine-tuned elsewhere):
    /// every rank measure per association into results.json and results.md.
    Eval(Box<EvalArgs>),
    /// Measure training throughput (tokens/s) on a model, without evaluation.
    Bench(BenchArgs),
    /// List the associations: templates, pairs and whether the link is causal.
    Assocs(AssocFiles),
}

/// User association files.
#[derive(Args, Clone, Default)]
pub struct AssocFiles {
    /// A TOML file of `[[association]]` tables adding to the five built-ins (repeatable; see
    /// README "Your own associations").
    #[arg(long = "assoc-file", value_name = "FILE")]
    assoc_file: Vec<PathBuf>,
}

impl AssocFiles {
    fn catalog(&self) -> Result<Catalog> {
        Ok(Catalog::load(&self.assoc_file)?)
    }
}

/// Dataset size and split.
#[derive(Args, Clone)]
pub struct DataArgs {
    /// Subjects per (fact, implication) group; 5 groups in all.
    #[arg(long, default_value_t = DatasetConfig::default().group_size)]
    group_size: usize,
    /// Share of each group whose implication is in the training set.
    #[arg(long, default_value_t = DatasetConfig::default().train_ratio)]
    train_ratio: f64,
    /// Seed of the name draw, the split, the data order and the LoRA init.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl DataArgs {
    fn config(&self) -> DatasetConfig {
        DatasetConfig {
            group_size: self.group_size,
            train_ratio: self.train_ratio,
            seed: self.seed,
        }
    }
}

/// Model options shared by `run`, `eval` and `bench`.
#[derive(Args, Clone)]
pub struct ModelArgs {
    /// GGUF file (e.g. models/SmolLM2-135M-Instruct.Q4_1.gguf from scripts/fetch-smollm2.sh) or
    /// Hugging Face folder with config.json, tokenizer.json and *.safetensors.
    #[arg(long)]
    model: PathBuf,
    /// tokenizer.json to use instead of the model's own.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// Threads of the tensor kernels (default: all cores; sets RAYON_NUM_THREADS).
    #[arg(long)]
    threads: Option<usize>,
}

/// Fine-tuning method options shared by `run` and `bench`.
#[derive(Args, Clone)]
pub struct MethodArgs {
    /// Train LoRA adapters of this rank instead of all parameters.
    #[arg(long)]
    lora: Option<usize>,
    /// LoRA alpha (update scale alpha / rank); default 2 x rank.
    #[arg(long, requires = "lora")]
    lora_alpha: Option<f64>,
    /// Comma-separated projections LoRA adapts.
    #[arg(
        long,
        requires = "lora",
        value_delimiter = ',',
        default_value = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
    )]
    lora_targets: Vec<String>,
    /// How the frozen base of a LoRA run is stored: f32, bf16, or quantized (the GGUF file's own
    /// blocks, expanded a slab at a time; same numbers as f32, a fraction of the memory).
    #[arg(long, default_value = "f32", value_parser = ["f32", "bf16", "quantized"])]
    base_dtype: String,
}

impl MethodArgs {
    fn base_dtype(&self) -> Result<oocr_llm::packed::BaseDtype> {
        let b = oocr_llm::packed::BaseDtype::parse(&self.base_dtype)
            .ok_or_else(|| anyhow::anyhow!("--base-dtype: unknown '{}'", self.base_dtype))?;
        oocr_llm::experiment::check_base_dtype(&self.method(), b)?;
        Ok(b)
    }

    fn method(&self) -> Method {
        match self.lora {
            None => Method::Full,
            Some(rank) => Method::Lora(LoraConfig {
                rank,
                alpha: self.lora_alpha.unwrap_or(2.0 * rank as f64),
                targets: self.lora_targets.clone(),
            }),
        }
    }
}

impl ModelArgs {
    fn set_threads(&self) -> Result<()> {
        if let Some(n) = self.threads {
            if n == 0 {
                bail!("--threads must be at least 1");
            }
            // Read by candle's kernels and rayon's global pool; set before either starts.
            std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        }
        Ok(())
    }
}

/// Options of `oocr llm run`. Every flag is a key of the run config (`--config`): flags override
/// the file, `--set` overrides both.
#[derive(Args)]
pub struct RunArgs {
    /// A TOML run config (every key below; see README "Run configs"); missing keys take defaults.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override one key, e.g. `--set optim.lr=3e-5 --set seeds=[0,1,2]` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    set: Vec<String>,
    /// Output run folder. A folder holding a run with the same settings resumes (finished
    /// associations are kept); one holding other results needs --force.
    #[arg(long)]
    out: PathBuf,
    /// Replace the results of an existing run folder (everything runs again).
    #[arg(long)]
    force: bool,
    /// `model`: GGUF file or Hugging Face folder.
    #[arg(long)]
    model: Option<PathBuf>,
    /// `tokenizer`: tokenizer.json to use instead of the model's own.
    #[arg(long)]
    tokenizer: Option<PathBuf>,
    /// `threads`: threads of the tensor kernels (default: all cores; at most 4 per core and 256).
    #[arg(long)]
    threads: Option<usize>,
    /// `assoc`: association name, comma-separated names, or `all` (default all).
    #[arg(long)]
    assoc: Option<String>,
    /// `assoc_files`: a TOML file of `[[association]]` tables adding to the built-ins (repeatable).
    #[arg(long = "assoc-file", value_name = "FILE")]
    assoc_file: Vec<PathBuf>,
    /// `method = "lora"`, `lora.rank`: train LoRA adapters of this rank instead of all parameters.
    #[arg(long)]
    lora: Option<usize>,
    /// `lora.alpha`: LoRA alpha (update scale alpha / rank); default 2 x rank.
    #[arg(long)]
    lora_alpha: Option<f64>,
    /// `lora.targets`: comma-separated projections LoRA adapts (default all seven).
    #[arg(long, value_delimiter = ',')]
    lora_targets: Option<Vec<String>>,
    /// `base_dtype`: how the frozen base of a LoRA run is stored: f32, bf16 or quantized.
    #[arg(long, value_parser = ["f32", "bf16", "quantized"])]
    base_dtype: Option<String>,
    /// `seeds`: comma-separated seeds; each association runs once per seed (default 0).
    #[arg(long, value_delimiter = ',', conflicts_with = "seed")]
    seeds: Option<Vec<u64>>,
    /// `seeds = [S]`: one seed (names, split, data order, LoRA init).
    #[arg(long)]
    seed: Option<u64>,
    /// `train.epochs`: passes over the training set (default 8 full, 12 LoRA).
    #[arg(long)]
    epochs: Option<usize>,
    /// `optim.lr`: learning rate (default 1e-4 full, 1e-3 LoRA).
    #[arg(long)]
    lr: Option<f64>,
    /// `train.schedule`: constant or cosine (default cosine).
    #[arg(long, value_parser = ["constant", "cosine"])]
    lr_schedule: Option<String>,
    /// `train.warmup_frac`: share of the steps warming the learning rate up (default 0.1).
    #[arg(long)]
    warmup_frac: Option<f64>,
    /// `train.batch_size`: examples per optimizer step (default 8).
    #[arg(long)]
    batch_size: Option<usize>,
    /// `optim.weight_decay`: AdamW decoupled weight decay (default 0).
    #[arg(long)]
    weight_decay: Option<f64>,
    /// `optim.max_grad_norm`: clip the global gradient norm at this value, 0 = off (default 1).
    #[arg(long)]
    max_grad_norm: Option<f64>,
    /// `eval.batch_size`: prompts per scoring forward pass (default 16).
    #[arg(long)]
    eval_batch_size: Option<usize>,
    /// `eval.per_epoch = false`: evaluate only before and after training, not after every epoch.
    #[arg(long)]
    no_eval_per_epoch: bool,
    /// `dataset.group_size`: subjects per (fact, implication) group (default 20).
    #[arg(long)]
    group_size: Option<usize>,
    /// `dataset.train_ratio`: share of each group whose implication is trained on (default 0.2).
    #[arg(long)]
    train_ratio: Option<f64>,
    /// No progress bars or per-association lines on stderr.
    #[arg(long)]
    quiet: bool,
}

fn int(flag: &str, x: impl TryInto<i64>) -> Result<toml::Value> {
    Ok(toml::Value::Integer(
        x.try_into()
            .map_err(|_| anyhow::anyhow!("--{flag}: too large"))?,
    ))
}

impl RunArgs {
    /// The run config: the file (if any), then the flags, then `--set`; resolved and checked.
    fn resolve(&self) -> Result<RunConfig> {
        use toml::Value as V;
        let mut v = match &self.config {
            Some(p) => RunConfig::read_file(p)?,
            None => V::Table(Default::default()),
        };
        let path = |p: &PathBuf| V::String(p.to_string_lossy().into_owned());
        let mut sets: Vec<(&str, V)> = Vec::new();
        if let Some(x) = &self.model {
            sets.push(("model", path(x)));
        }
        if let Some(x) = &self.tokenizer {
            sets.push(("tokenizer", path(x)));
        }
        if let Some(x) = self.threads {
            sets.push(("threads", int("threads", x)?));
        }
        if let Some(x) = &self.assoc {
            sets.push(("assoc", V::String(x.clone())));
        }
        if !self.assoc_file.is_empty() {
            let mut files: Vec<V> = v
                .get("assoc_files")
                .and_then(|f| f.as_array())
                .cloned()
                .unwrap_or_default();
            files.extend(self.assoc_file.iter().map(path));
            sets.push(("assoc_files", V::Array(files)));
        }
        if let Some(r) = self.lora {
            sets.push(("method", V::String("lora".into())));
            sets.push(("lora.rank", int("lora", r)?));
        }
        if let Some(x) = self.lora_alpha {
            sets.push(("lora.alpha", V::Float(x)));
        }
        if let Some(x) = &self.lora_targets {
            sets.push((
                "lora.targets",
                V::Array(x.iter().map(|t| V::String(t.clone())).collect()),
            ));
        }
        if let Some(x) = &self.base_dtype {
            sets.push(("base_dtype", V::String(x.clone())));
        }
        if let Some(x) = &self.seeds {
            let seeds = x.iter().map(|&s| int("seeds", s)).collect::<Result<_>>()?;
            sets.push(("seeds", V::Array(seeds)));
        }
        if let Some(x) = self.seed {
            sets.push(("seeds", V::Array(vec![int("seed", x)?])));
        }
        if let Some(x) = self.epochs {
            sets.push(("train.epochs", int("epochs", x)?));
        }
        if let Some(x) = self.lr {
            sets.push(("optim.lr", V::Float(x)));
        }
        if let Some(x) = &self.lr_schedule {
            sets.push(("train.schedule", V::String(x.clone())));
        }
        if let Some(x) = self.warmup_frac {
            sets.push(("train.warmup_frac", V::Float(x)));
        }
        if let Some(x) = self.batch_size {
            sets.push(("train.batch_size", int("batch-size", x)?));
        }
        if let Some(x) = self.weight_decay {
            sets.push(("optim.weight_decay", V::Float(x)));
        }
        if let Some(x) = self.max_grad_norm {
            sets.push(("optim.max_grad_norm", V::Float(x)));
        }
        if let Some(x) = self.eval_batch_size {
            sets.push(("eval.batch_size", int("eval-batch-size", x)?));
        }
        if self.no_eval_per_epoch {
            sets.push(("eval.per_epoch", V::Boolean(false)));
        }
        if let Some(x) = self.group_size {
            sets.push(("dataset.group_size", int("group-size", x)?));
        }
        if let Some(x) = self.train_ratio {
            sets.push(("dataset.train_ratio", V::Float(x)));
        }
        for (key, value) in sets {
            set_key(&mut v, key, value)?;
        }
        apply_sets(&mut v, &self.set)?;
        if v.get("model").is_none() {
            bail!("give --model PATH or `model = \"PATH\"` in --config");
        }
        Ok(RunConfig::from_value(v)?)
    }
}

/// Options of `oocr llm eval`.
#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Association name, comma-separated names, or `all`.
    #[arg(long, default_value = "all")]
    assoc: String,
    #[command(flatten)]
    files: AssocFiles,
    /// Output folder; must be new or empty unless --force.
    #[arg(long)]
    out: PathBuf,
    /// Write into an existing non-empty --out, replacing files of the same name.
    #[arg(long)]
    force: bool,
    /// Prompts per scoring forward pass.
    #[arg(long, default_value_t = 16)]
    eval_batch_size: usize,
    #[command(flatten)]
    data: DataArgs,
    /// No progress bars or per-association lines on stderr.
    #[arg(long)]
    quiet: bool,
}

/// Options of `oocr llm bench`.
#[derive(Args)]
pub struct BenchArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    method: MethodArgs,
    /// Timed optimizer steps.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Examples per step (drawn from the City-Language training set).
    #[arg(long, default_value_t = 8)]
    batch_size: usize,
    /// Learning rate of the benchmarked steps.
    #[arg(long, default_value_t = 1e-5)]
    lr: f64,
    /// Also write the result as JSON to this file.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Run an `oocr llm` subcommand.
pub fn run(cmd: LlmCmd) -> Result<()> {
    oocr_llm::configure_cpu_runtime();
    match cmd {
        LlmCmd::Dataset {
            assoc,
            files,
            out,
            data,
        } => {
            for a in files.catalog()?.select(&assoc)? {
                let ds = Dataset::build(a, data.config())?;
                let dir = out.join(a.name);
                ds.write(&dir)
                    .with_context(|| format!("writing dataset {}", a.name))?;
                println!(
                    "{}: {} training and {} test records -> {}",
                    a.name,
                    ds.train().count(),
                    ds.test().count(),
                    dir.display()
                );
            }
            Ok(())
        }
        LlmCmd::Assocs(files) => {
            for a in files.catalog()?.all() {
                println!(
                    "{} ({}, {}, k = {}): \"{}\" -> \"{}\"{}",
                    a.name,
                    a.source,
                    if a.causal { "causal" } else { "made up" },
                    a.k(),
                    a.fact_template,
                    a.implication_template,
                    if a.real_world.is_some() {
                        " (counterfactual)"
                    } else {
                        ""
                    }
                );
                for (f, i) in &a.pairs {
                    println!("    {f} -> {i}");
                }
            }
            Ok(())
        }
        LlmCmd::Run(a) => run_cmd(*a),
        LlmCmd::Eval(a) => eval_cmd(*a),
        LlmCmd::Bench(a) => bench_cmd(a),
    }
}

fn run_cmd(a: RunArgs) -> Result<()> {
    let cfg = a.resolve()?;
    if let Some(n) = cfg.threads {
        // Read by candle's kernels and rayon's global pool; set before either starts.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
    }
    let opts = RunOptions {
        force: a.force,
        progress: !a.quiet,
    };
    let res =
        run_with(&cfg, &a.out, opts).with_context(|| format!("run into {}", a.out.display()))?;
    rank_figure(&res, &a.out.join("rank_per_epoch"))?;
    let md = std::fs::read_to_string(a.out.join("results.md")).context("reading results.md")?;
    println!("{md}");
    println!("results: {}", a.out.join("results.json").display());
    Ok(())
}

/// `rank_per_epoch.{png,svg}`: mean over seeds of the within-type rank and of the rank among 2k
/// against epoch, one curve per association, chance dashed. Skipped without per-epoch evaluation.
fn rank_figure(res: &oocr_llm::experiment::RunResults, stem: &std::path::Path) -> Result<()> {
    use oocr_report::plots::{line_figure, Mark, Panel, Series};
    let mut within = Panel::new(
        "Within-type rank (among the k implications)",
        "epoch",
        "mean rank (0 = best)",
    );
    let mut all = Panel::new(
        "Rank among the 2k candidates",
        "epoch",
        "mean rank (0 = best)",
    );
    let mut any = false;
    let mut chances: Vec<(f64, f64)> = Vec::new();
    for (i, a) in res.summary.iter().enumerate() {
        let runs: Vec<_> = res
            .associations
            .iter()
            .filter(|r| r.name == a.name && !r.per_epoch.is_empty())
            .collect();
        let n = runs.iter().map(|r| r.per_epoch.len()).min().unwrap_or(0);
        if n == 0 {
            continue;
        }
        any = true;
        let curve = |f: fn(&oocr_llm::eval::RankMetrics) -> f64| -> Vec<(f64, f64)> {
            (0..n)
                .map(|e| {
                    let m = runs.iter().map(|r| f(&r.per_epoch[e].metrics)).sum::<f64>()
                        / runs.len() as f64;
                    (e as f64, m)
                })
                .collect()
        };
        within.series.push(Series::new(
            a.title.clone(),
            curve(|m| m.mean_rank_among_implications),
            i % 8,
            Mark::LinePoints,
        ));
        all.series.push(Series::new(
            a.title.clone(),
            curve(|m| m.mean_rank),
            i % 8,
            Mark::LinePoints,
        ));
        let c = ((a.k - 1) as f64 / 2.0, (2 * a.k - 1) as f64 / 2.0);
        if !chances.contains(&c) {
            chances.push(c);
            let last = (n - 1) as f64;
            let k = a.k;
            within.series.push(Series::new(
                format!("chance (k = {k})"),
                vec![(0.0, c.0), (last, c.0)],
                7,
                Mark::Dashed,
            ));
            all.series.push(Series::new(
                format!("chance (k = {k})"),
                vec![(0.0, c.1), (last, c.1)],
                7,
                Mark::Dashed,
            ));
        }
    }
    if any {
        line_figure(stem, &[within, all], 560, 420)
            .with_context(|| format!("writing {}", stem.display()))?;
    }
    Ok(())
}

fn eval_cmd(a: EvalArgs) -> Result<()> {
    a.model.set_threads()?;
    let cfg = EvalConfig {
        model: a.model.model.clone(),
        tokenizer: a.model.tokenizer.clone(),
        assoc: a.assoc.clone(),
        assoc_files: a.files.assoc_file.clone(),
        dataset: a.data.config(),
        eval_batch_size: a.eval_batch_size,
    };
    evaluate(&cfg, &a.out, a.force, !a.quiet)
        .with_context(|| format!("evaluation into {}", a.out.display()))?;
    let md = std::fs::read_to_string(a.out.join("results.md")).context("reading results.md")?;
    println!("{md}");
    println!("results: {}", a.out.join("results.json").display());
    Ok(())
}

fn bench_cmd(a: BenchArgs) -> Result<()> {
    a.model.set_threads()?;
    if a.steps == 0 {
        bail!("--steps must be at least 1");
    }
    let base = a.method.base_dtype()?;
    let mut lm = oocr_llm::loader::load_with(&a.model.model, a.model.tokenizer.as_deref(), base)?;
    let ds = Dataset::build(
        oocr_llm::dataset::association("city-language")?,
        DatasetConfig::default(),
    )?;
    let all = encode_train(&lm, &ds)?;
    let n = a.batch_size * (a.steps + a.warmup);
    let examples: Vec<_> = all.iter().cycle().take(n).cloned().collect();
    let method = a.method.method();
    let model_params = lm.model.num_params();
    let params = make_trainable(&mut lm.model, &method, 0)?;
    let trainable: usize = params.iter().map(|p| p.var.elem_count()).sum();
    let mut opt = AdamW::new(
        params,
        oocr_llm::optim::AdamWConfig {
            lr: a.lr,
            ..Default::default()
        },
    )?;
    let cfg = TrainConfig {
        epochs: 1,
        batch_size: a.batch_size,
        seed: 0,
        schedule: Schedule::Constant,
        warmup_frac: 0.0,
    };
    // Warm-up steps, then the timed ones; one epoch over a fixed list keeps the batches identical.
    let (warm, timed) = examples.split_at(a.batch_size * a.warmup);
    if !warm.is_empty() {
        train(&lm.model, &mut opt, warm, &cfg, |_| {})?;
    }
    let rep = train(&lm.model, &mut opt, timed, &cfg, |s| {
        eprintln!(
            "step {:>3}: loss {:.4}, {} tokens, {:.0} tok/s so far",
            s.step, s.loss, s.tokens, s.tokens_per_s
        )
    })?;
    let out = serde_json::json!({
        "model": lm.name,
        "method": method.label(),
        "model_params": model_params,
        "trainable_params": trainable,
        "threads": oocr_llm::threads(),
        "batch_size": a.batch_size,
        "steps": rep.steps,
        "tokens": rep.tokens,
        "seconds": rep.seconds,
        "ms_per_step": 1e3 * rep.seconds / rep.steps as f64,
        "tokens_per_s": rep.tokens_per_s,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    if let Some(p) = a.out {
        // The file also carries the architecture and the exact batches, so that a peer
        // implementation (scripts/torch_peer.py) can time the same work.
        let mut full = out;
        full["config"] = serde_json::to_value(&lm.model.cfg)?;
        full["lora"] = serde_json::to_value(&method)?;
        full["warmup_steps"] = a.warmup.into();
        full["batches"] = timed
            .chunks(a.batch_size)
            .map(|b| {
                b.iter()
                    .map(|e| serde_json::json!({"prompt": e.prompt, "answer": e.answer}))
                    .collect()
            })
            .collect::<Vec<serde_json::Value>>()
            .into();
        std::fs::write(&p, serde_json::to_string_pretty(&full)? + "\n")
            .with_context(|| format!("writing {}", p.display()))?;
    }
    Ok(())
}
