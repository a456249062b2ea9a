//! One experiment run: for each association, evaluate the pretrained model, fine-tune a fresh copy,
//! evaluate again, and write the run folder (`config.json`, `metrics.jsonl`, per-association
//! scores, `results.json`, `results.md`); and its evaluation-only half (`evaluate`), for a base
//! model or a checkpoint fine-tuned elsewhere.
use crate::batch::Example;
use crate::dataset::{associations, Dataset, DatasetConfig};
use crate::error::{LlmError, Result};
use crate::eval::{rank_metrics, score_dataset, RankMetrics, RecordScores};
use crate::loader::{load, load_with, LoadedModel};
use crate::lora::{make_trainable, Method};
use crate::optim::{AdamW, AdamWConfig};
use crate::packed::BaseDtype;
use crate::report::markdown_table;
use crate::train::{train, Schedule, TrainConfig, TrainReport};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Everything a run depends on; saved as `config.json` in the run folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    /// GGUF file or Hugging Face folder.
    pub model: PathBuf,
    /// Optional tokenizer.json overriding the model's.
    pub tokenizer: Option<PathBuf>,
    /// Association name or `all`.
    pub assoc: String,
    /// Full fine-tuning or LoRA.
    pub method: Method,
    /// Training loop settings.
    pub train: TrainConfig,
    /// Optimizer settings.
    pub optim: AdamWConfig,
    /// Dataset size and split.
    pub dataset: DatasetConfig,
    /// Prompts per scoring forward pass.
    pub eval_batch_size: usize,
    /// How the frozen base of a LoRA run is stored (`f32`, `bf16`, `quantized`).
    #[serde(default)]
    pub base_dtype: BaseDtype,
}

impl RunConfig {
    /// Defaults of `oocr llm run` for a method, chosen so that SmolLM2-135M learns the facts
    /// (answer loss < 0.1) on all five associations within 30 minutes on 2 CPU cores: full
    /// fine-tuning 8 epochs at peak lr 1e-4; LoRA 12 epochs at peak lr 1e-3; linear warm-up over
    /// 10% of the steps, then a cosine decay to 0; batch 8; AdamW without weight decay, gradient
    /// norm clipped at 1.
    pub fn defaults(model: PathBuf, assoc: String, method: Method) -> Self {
        let (epochs, lr) = match method {
            Method::Full => (8, 1e-4),
            Method::Lora(_) => (12, 1e-3),
        };
        RunConfig {
            model,
            tokenizer: None,
            assoc,
            method,
            train: TrainConfig {
                epochs,
                batch_size: 8,
                seed: 0,
                schedule: Schedule::Cosine,
                warmup_frac: 0.1,
            },
            optim: AdamWConfig {
                lr,
                ..Default::default()
            },
            dataset: DatasetConfig::default(),
            eval_batch_size: 16,
            base_dtype: BaseDtype::F32,
        }
    }
}

/// A packed (frozen) base only suits LoRA: full fine-tuning trains every weight in f32.
pub fn check_base_dtype(method: &Method, base: BaseDtype) -> Result<()> {
    if *method == Method::Full && base != BaseDtype::F32 {
        return Err(LlmError::config(
            "base_dtype",
            format!(
                "'{}' keeps the base frozen; full fine-tuning needs f32 (use --lora)",
                base.name()
            ),
        ));
    }
    Ok(())
}

/// Result of one association, as in `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AssocResult {
    /// Association name.
    pub name: String,
    /// Test implications' mean rank among 10 before fine-tuning.
    pub mean_rank_before: f64,
    /// … and after.
    pub mean_rank_after: f64,
    /// Mean training loss of the last epoch.
    pub train_loss_final: f64,
    /// Number of test subjects.
    pub n_test_subjects: usize,
    /// Epochs trained.
    pub epochs: usize,
    /// Learning rate.
    pub lr: f64,
    /// Wall time of the association: evaluation before, training, evaluation after.
    pub seconds: f64,
    /// Training throughput (tokens fed per second, padding excluded).
    pub tokens_per_s: f64,
    /// Table title of the association.
    pub title: String,
    /// All rank measures before fine-tuning.
    pub before: RankMetrics,
    /// All rank measures after fine-tuning.
    pub after: RankMetrics,
    /// The training run.
    pub train: TrainReport,
}

/// Contents of `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    /// Model name.
    pub model: String,
    /// `full` or `lora-rN`.
    pub method: String,
    /// One entry per association, in the paper's order.
    pub associations: Vec<AssocResult>,
    /// Trainable parameters.
    pub trainable_params: usize,
    /// Base model parameters.
    pub model_params: usize,
    /// Threads used by the tensor kernels.
    pub threads: usize,
    /// Wall time of the whole run, model loading included.
    pub total_seconds: f64,
}

fn bar(len: u64, enabled: bool) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>18} [{bar:30}] {pos}/{len} {elapsed_precise} {msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    pb
}

/// Append-only JSON-lines log, flushed every line so a killed run keeps what it logged.
struct Log(File, PathBuf);

impl Log {
    fn line(&mut self, v: &serde_json::Value) -> Result<()> {
        writeln!(self.0, "{v}")
            .and_then(|_| self.0.flush())
            .map_err(|e| LlmError::io(&self.1, e))
    }
}

fn write_json(path: &Path, v: &impl Serialize) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let text = serde_json::to_string_pretty(v).expect("serializable") + "\n";
    std::fs::write(&tmp, text).map_err(|e| LlmError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| LlmError::io(path, e))
}

fn write_scores(path: &Path, scores: &[RecordScores]) -> Result<()> {
    let mut w = std::io::BufWriter::new(File::create(path).map_err(|e| LlmError::io(path, e))?);
    for s in scores {
        writeln!(w, "{}", serde_json::to_string(s).expect("serializable"))
            .map_err(|e| LlmError::io(path, e))?;
    }
    w.flush().map_err(|e| LlmError::io(path, e))
}

/// Encode training records as (prompt, answer) token ids.
pub fn encode_train(lm: &LoadedModel, ds: &Dataset) -> Result<Vec<Example>> {
    ds.train()
        .map(|r| {
            Ok(Example {
                prompt: lm.tokenizer.encode_prompt(&r.prompt)?,
                answer: lm.tokenizer.encode_continuation(&r.answer)?,
            })
        })
        .collect()
}

/// Run the experiment described by `cfg`, writing the run folder `out`.
pub fn run(cfg: &RunConfig, out: &Path, progress: bool) -> Result<RunResults> {
    let start = Instant::now();
    let assocs = associations(&cfg.assoc)?;
    cfg.dataset.validate()?;
    if cfg.train.epochs == 0 {
        return Err(LlmError::config("epochs", "must be at least 1"));
    }
    check_base_dtype(&cfg.method, cfg.base_dtype)?;
    std::fs::create_dir_all(out).map_err(|e| LlmError::io(out, e))?;
    write_json(&out.join("config.json"), cfg)?;
    let metrics_path = out.join("metrics.jsonl");
    let mut log = Log(
        File::create(&metrics_path).map_err(|e| LlmError::io(&metrics_path, e))?,
        metrics_path,
    );

    let mut lm = load_with(&cfg.model, cfg.tokenizer.as_deref(), cfg.base_dtype)?;
    let model_params = lm.model.num_params();
    let threads = crate::threads();
    let mut results = Vec::new();
    let mut trainable_params = 0;
    for assoc in assocs {
        let t0 = Instant::now();
        let ds = Dataset::build(assoc, cfg.dataset)?;
        let dir = out.join(assoc.name);
        ds.write(&dir)?;
        let n_eval = ds.records.len() as u64;

        let pb = bar(n_eval, progress);
        pb.set_prefix(format!("{} eval", assoc.name));
        let before_scores =
            score_dataset(&lm.model, &lm.tokenizer, &ds, cfg.eval_batch_size, |n| {
                pb.inc(n as u64)
            })?;
        pb.finish_and_clear();
        write_scores(&dir.join("scores_before.jsonl"), &before_scores)?;
        let before = rank_metrics(&ds, &before_scores);

        let mut model = lm.model.clone();
        let params = make_trainable(&mut model, &cfg.method, cfg.train.seed)?;
        trainable_params = params.iter().map(|p| p.var.elem_count()).sum();
        let mut opt = AdamW::new(params, cfg.optim)?;
        let examples = encode_train(&lm, &ds)?;
        let steps = cfg.train.total_steps(examples.len());
        let pb = bar(steps as u64, progress);
        pb.set_prefix(format!("{} train", assoc.name));
        let mut log_err = None;
        let report = train(&model, &mut opt, &examples, &cfg.train, |s| {
            pb.inc(1);
            pb.set_message(format!(
                "epoch {} loss {:.4} {:.0} tok/s",
                s.epoch, s.loss, s.tokens_per_s
            ));
            let mut v = serde_json::to_value(s).expect("serializable");
            v["assoc"] = assoc.name.into();
            if let Err(e) = log.line(&v) {
                log_err.get_or_insert(e);
            }
        })?;
        pb.finish_and_clear();
        if let Some(e) = log_err {
            return Err(e);
        }

        let pb = bar(n_eval, progress);
        pb.set_prefix(format!("{} eval", assoc.name));
        let after_scores = score_dataset(&model, &lm.tokenizer, &ds, cfg.eval_batch_size, |n| {
            pb.inc(n as u64)
        })?;
        pb.finish_and_clear();
        write_scores(&dir.join("scores_after.jsonl"), &after_scores)?;
        let after = rank_metrics(&ds, &after_scores);
        drop(model);

        let r = AssocResult {
            name: assoc.name.into(),
            title: assoc.title.into(),
            mean_rank_before: before.mean_rank,
            mean_rank_after: after.mean_rank,
            train_loss_final: *report.epoch_losses.last().expect("at least one epoch"),
            n_test_subjects: ds.test().count(),
            epochs: cfg.train.epochs,
            lr: cfg.optim.lr,
            seconds: t0.elapsed().as_secs_f64(),
            tokens_per_s: report.tokens_per_s,
            before,
            after,
            train: report,
        };
        let mut v = serde_json::to_value(&r).expect("serializable");
        v["event"] = "association_done".into();
        log.line(&v)?;
        if progress {
            eprintln!(
                "{:>18}: mean rank {:.2} -> {:.2} (among implications {:.2} -> {:.2}), fact loss {:.3}, {:.0} s, {:.0} tok/s",
                r.name,
                r.mean_rank_before,
                r.mean_rank_after,
                r.before.mean_rank_among_implications,
                r.after.mean_rank_among_implications,
                r.after.fact_loss,
                r.seconds,
                r.tokens_per_s
            );
        }
        results.push(r);
    }
    let res = RunResults {
        model: lm.name.clone(),
        method: cfg.method.label(),
        associations: results,
        trainable_params,
        model_params,
        threads,
        total_seconds: start.elapsed().as_secs_f64(),
    };
    write_json(&out.join("results.json"), &res)?;
    let md = out.join("results.md");
    std::fs::write(&md, markdown_table(&res)).map_err(|e| LlmError::io(&md, e))?;
    Ok(res)
}

/// Everything an evaluation-only run (`oocr llm eval`) depends on; saved as `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    /// GGUF file or Hugging Face folder (a base model, or a checkpoint fine-tuned elsewhere).
    pub model: PathBuf,
    /// Optional tokenizer.json overriding the model's.
    pub tokenizer: Option<PathBuf>,
    /// Association name or `all`.
    pub assoc: String,
    /// Dataset size and split (which subjects count as trained on and as test subjects).
    pub dataset: DatasetConfig,
    /// Prompts per scoring forward pass.
    pub eval_batch_size: usize,
}

/// One association of an evaluation, as in its `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalAssocResult {
    /// Association name.
    pub name: String,
    /// Table title of the association.
    pub title: String,
    /// Number of test subjects.
    pub n_test_subjects: usize,
    /// Wall time of the scoring.
    pub seconds: f64,
    /// All rank measures.
    pub metrics: RankMetrics,
}

/// Contents of an evaluation's `results.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalResults {
    /// Model name.
    pub model: String,
    /// One entry per association, in the paper's order.
    pub associations: Vec<EvalAssocResult>,
    /// Model parameters.
    pub model_params: usize,
    /// Threads used by the tensor kernels.
    pub threads: usize,
    /// Wall time of the whole evaluation, model loading included.
    pub total_seconds: f64,
}

/// Check an evaluation's settings and output folder without touching the disk: the association
/// name, the dataset split, the batch size, and that `out` is a new or empty folder (or `force`).
pub fn check_eval(cfg: &EvalConfig, out: &Path, force: bool) -> Result<()> {
    associations(&cfg.assoc)?;
    cfg.dataset.validate()?;
    if cfg.eval_batch_size == 0 {
        return Err(LlmError::config("eval_batch_size", "must be at least 1"));
    }
    if out.exists() {
        if !out.is_dir() {
            return Err(LlmError::config(
                "out",
                format!("{} exists and is not a folder", out.display()),
            ));
        }
        let mut entries = std::fs::read_dir(out).map_err(|e| LlmError::io(out, e))?;
        if entries.next().is_some() && !force {
            return Err(LlmError::config(
                "out",
                format!(
                    "{} exists and is not empty (pass --force to write into it)",
                    out.display()
                ),
            ));
        }
    }
    Ok(())
}

/// Evaluate a model on each association without training: score every record, compute every
/// rank measure, and write `out` (`config.json`, `<assoc>/scores.jsonl` in the record format of
/// `scores_before.jsonl`, `<assoc>/{meta,train,test}` dataset files, `results.json`,
/// `results.md`). Settings are checked and the model is opened before anything is written; the
/// files are written in a staging folder beside `out` and moved into it at the end, so a failed
/// evaluation leaves nothing behind.
pub fn evaluate(cfg: &EvalConfig, out: &Path, force: bool, progress: bool) -> Result<EvalResults> {
    let start = Instant::now();
    check_eval(cfg, out, force)?;
    let assocs = associations(&cfg.assoc)?;
    let mut lm = load(&cfg.model, cfg.tokenizer.as_deref())?;
    let model_params = lm.model.num_params();
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "eval".into());
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let stage = parent.join(format!(".{name}.oocr-eval-{}", std::process::id()));
    std::fs::create_dir_all(&stage).map_err(|e| LlmError::io(&stage, e))?;
    let res =
        evaluate_into(cfg, &lm, model_params, assocs, &stage, progress, start).and_then(|res| {
            move_into(&stage, out)?;
            Ok(res)
        });
    // The staging folder is ours: remove what is left of it (everything, on failure).
    let _ = std::fs::remove_dir_all(&stage);
    res
}

fn evaluate_into(
    cfg: &EvalConfig,
    lm: &LoadedModel,
    model_params: usize,
    assocs: Vec<&'static crate::dataset::Association>,
    dir: &Path,
    progress: bool,
    start: Instant,
) -> Result<EvalResults> {
    write_json(&dir.join("config.json"), cfg)?;
    let mut results = Vec::new();
    for assoc in assocs {
        let t0 = Instant::now();
        let ds = Dataset::build(assoc, cfg.dataset)?;
        let sub = dir.join(assoc.name);
        ds.write(&sub)?;
        let pb = bar(ds.records.len() as u64, progress);
        pb.set_prefix(format!("{} eval", assoc.name));
        let scores = score_dataset(&lm.model, &lm.tokenizer, &ds, cfg.eval_batch_size, |n| {
            pb.inc(n as u64)
        })?;
        pb.finish_and_clear();
        write_scores(&sub.join("scores.jsonl"), &scores)?;
        let metrics = rank_metrics(&ds, &scores);
        let r = EvalAssocResult {
            name: assoc.name.into(),
            title: assoc.title.into(),
            n_test_subjects: ds.test().count(),
            seconds: t0.elapsed().as_secs_f64(),
            metrics,
        };
        if progress {
            eprintln!(
                "{:>18}: mean rank {:.2} (among implications {:.2}), fact loss {:.3}, {:.0} s",
                r.name,
                r.metrics.mean_rank,
                r.metrics.mean_rank_among_implications,
                r.metrics.fact_loss,
                r.seconds
            );
        }
        results.push(r);
    }
    let res = EvalResults {
        model: lm.name.clone(),
        associations: results,
        model_params,
        threads: crate::threads(),
        total_seconds: start.elapsed().as_secs_f64(),
    };
    write_json(&dir.join("results.json"), &res)?;
    let md = dir.join("results.md");
    std::fs::write(&md, eval_markdown(&res)).map_err(|e| LlmError::io(&md, e))?;
    Ok(res)
}

/// Move every file under `from` to the same place under `to` (created if missing), replacing
/// files of the same name.
fn move_into(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(|e| LlmError::io(to, e))?;
    let entries = std::fs::read_dir(from).map_err(|e| LlmError::io(from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LlmError::io(from, e))?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        if src.is_dir() {
            move_into(&src, &dst)?;
        } else {
            std::fs::rename(&src, &dst).map_err(|e| LlmError::io(&dst, e))?;
        }
    }
    Ok(())
}

/// One table cell of a rank measure.
type MetricCell = Box<dyn Fn(&RankMetrics) -> String>;

/// The Markdown report of an evaluation: one table per rank measure, one column per association,
/// laid out like a run's "pretrained" rows.
pub fn eval_markdown(res: &EvalResults) -> String {
    use std::fmt::Write as _;
    let f2 = |x: f64| format!("{x:.2}");
    let tables: [(&str, MetricCell); 8] = [
        (
            "Test subjects' implication: mean rank among the 10 candidates (5 facts + 5 implications; chance 4.5)",
            Box::new(move |m| f2(m.mean_rank)),
        ),
        (
            "Test subjects' implication: mean rank among the 5 implications only (chance 2.0)",
            Box::new(move |m| f2(m.mean_rank_among_implications)),
        ),
        (
            "Share of test subjects whose top answer is the true implication (chance 0.10)",
            Box::new(move |m| f2(m.top1_share)),
        ),
        (
            "Counterfactual associations: share of test subjects whose top answer is the real-world implication",
            Box::new(move |m| m.real_world_top1_share.map_or("–".into(), f2)),
        ),
        (
            "Training subjects' implication: mean rank among 10",
            Box::new(move |m| f2(m.train_implication_mean_rank)),
        ),
        (
            "Facts: mean rank among 10",
            Box::new(move |m| f2(m.fact_mean_rank)),
        ),
        (
            "Facts: mean rank among the 5 facts only",
            Box::new(move |m| f2(m.fact_mean_rank_among_facts)),
        ),
        (
            "Answer loss (mean per-token negative log-likelihood of the true answer): facts / test implications",
            Box::new(|m| format!("{:.3} / {:.3}", m.fact_loss, m.test_implication_loss)),
        ),
    ];
    let mut s = format!(
        "## Evaluation: {}\n\nEvery record's 10 candidate answers ranked by the summed log-probability of the \
         answer after the prompt (no training). Lower ranks are better.\n\n",
        res.model
    );
    let assocs = &crate::dataset::ASSOCIATIONS;
    for (title, metric) in &tables {
        write!(s, "### {title}\n\n| model |").unwrap();
        for a in assocs {
            write!(s, " {} |", a.title).unwrap();
        }
        s.push_str("\n|---|");
        s.push_str(&"---|".repeat(assocs.len()));
        write!(s, "\n| {} |", res.model).unwrap();
        for a in assocs {
            let c = res
                .associations
                .iter()
                .find(|r| r.name == a.name)
                .map_or("–".into(), |r| metric(&r.metrics));
            write!(s, " {c} |").unwrap();
        }
        s.push_str("\n\n");
    }
    writeln!(
        s,
        "{} test subjects per association; {} parameters; {} threads; total {:.0} s.",
        res.associations.first().map_or(0, |r| r.n_test_subjects),
        res.model_params,
        res.threads,
        res.total_seconds
    )
    .unwrap();
    s
}
