//! `oocr llm`: the LLM knowledge-injection experiment of the paper (Sec. 2) on real causal LMs.
use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use oocr_llm::dataset::{associations, Dataset, DatasetConfig, ASSOCIATIONS};
use oocr_llm::experiment::{encode_train, evaluate, run as run_experiment, EvalConfig, RunConfig};
use oocr_llm::lora::{make_trainable, LoraConfig, Method};
use oocr_llm::optim::AdamW;
use oocr_llm::train::{train, Schedule, TrainConfig};
use std::path::PathBuf;

/// LLM knowledge injection: datasets, fine-tuning (full or LoRA) and mean-rank evaluation.
#[derive(Subcommand)]
pub enum LlmCmd {
    /// Write an association's dataset: train.jsonl, test.jsonl and meta.json per association.
    Dataset {
        /// Association name (city-language, city-language-cf, country-code, profession-color,
        /// sport-music) or `all`.
        #[arg(long, default_value = "all")]
        assoc: String,
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
    Assocs,
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

/// Options of `oocr llm run`.
#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    method: MethodArgs,
    /// Association name or `all`.
    #[arg(long, default_value = "all")]
    assoc: String,
    /// Output run folder.
    #[arg(long)]
    out: PathBuf,
    /// Epochs, passes over the training set (default 8 full, 12 LoRA).
    #[arg(long)]
    epochs: Option<usize>,
    /// Learning rate (default 1e-4 full, 1e-3 LoRA).
    #[arg(long)]
    lr: Option<f64>,
    /// Learning-rate schedule after the warm-up: constant or cosine (default cosine).
    #[arg(long)]
    lr_schedule: Option<Schedule>,
    /// Share of the steps spent warming the learning rate up linearly (default 0.1).
    #[arg(long)]
    warmup_frac: Option<f64>,
    /// Examples per optimizer step (default 8).
    #[arg(long)]
    batch_size: Option<usize>,
    /// AdamW decoupled weight decay (default 0).
    #[arg(long)]
    weight_decay: Option<f64>,
    /// Clip the global gradient norm at this value, 0 = off (default 1).
    #[arg(long)]
    max_grad_norm: Option<f64>,
    /// Prompts per scoring forward pass (default 16).
    #[arg(long)]
    eval_batch_size: Option<usize>,
    #[command(flatten)]
    data: DataArgs,
    /// No progress bars or per-association lines on stderr.
    #[arg(long)]
    quiet: bool,
}

/// Options of `oocr llm eval`.
#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Association name or `all`.
    #[arg(long, default_value = "all")]
    assoc: String,
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
        LlmCmd::Dataset { assoc, out, data } => {
            for a in associations(&assoc)? {
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
        LlmCmd::Assocs => {
            for a in &ASSOCIATIONS {
                println!(
                    "{} ({}): \"{}\" -> \"{}\"{}",
                    a.name,
                    if a.causal { "causal" } else { "made up" },
                    a.fact_template,
                    a.implication_template,
                    if a.real_world.is_some() {
                        " (counterfactual)"
                    } else {
                        ""
                    }
                );
                for (f, i) in a.pairs {
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
    a.model.set_threads()?;
    let mut cfg = RunConfig::defaults(a.model.model.clone(), a.assoc.clone(), a.method.method());
    cfg.tokenizer = a.model.tokenizer.clone();
    cfg.base_dtype = a.method.base_dtype()?;
    cfg.dataset = a.data.config();
    cfg.train.seed = a.data.seed;
    if let Some(x) = a.epochs {
        cfg.train.epochs = x;
    }
    if let Some(x) = a.batch_size {
        cfg.train.batch_size = x;
    }
    if let Some(x) = a.lr {
        cfg.optim.lr = x;
    }
    if let Some(x) = a.lr_schedule {
        cfg.train.schedule = x;
    }
    if let Some(x) = a.warmup_frac {
        cfg.train.warmup_frac = x;
    }
    if let Some(x) = a.weight_decay {
        cfg.optim.weight_decay = x;
    }
    if let Some(x) = a.max_grad_norm {
        cfg.optim.max_grad_norm = x;
    }
    if let Some(x) = a.eval_batch_size {
        cfg.eval_batch_size = x;
    }
    run_experiment(&cfg, &a.out, !a.quiet)
        .with_context(|| format!("run into {}", a.out.display()))?;
    let md = std::fs::read_to_string(a.out.join("results.md")).context("reading results.md")?;
    println!("{md}");
    println!("results: {}", a.out.join("results.json").display());
    Ok(())
}

fn eval_cmd(a: EvalArgs) -> Result<()> {
    a.model.set_threads()?;
    let cfg = EvalConfig {
        model: a.model.model.clone(),
        tokenizer: a.model.tokenizer.clone(),
        assoc: a.assoc.clone(),
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
